// Vitest global setup of the integration and browser tests: one real
// PostgreSQL 15 cluster for the whole run; each node a test starts gets a
// fresh database on it (harness.ts).
import { PostgresCluster } from "@parley/records/testing";
import type { TestProject } from "vitest/node";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // No waits for the disk: tests stop the server cleanly and never crash the machine.
  const cluster = await PostgresCluster.start({
    settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off" },
  });
  project.provide("parleyPostgresUrl", cluster.url());
  return () => cluster.destroy();
}
