// Every metric that rules, dashboards and the autoscaler read exists in the
// node's real prom-client registry (or comes from a named exporter), and
// every metric the node exports is shown somewhere.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { collectProcessMetrics, register } from "../../signaling/src/metrics.ts";
import {
  adapterRules,
  at,
  dashboardQueries,
  filesUnder,
  loadedDashboards,
  loadedQueries,
  metricNames,
  REPO,
  readYamlDocuments,
} from "./support.ts";

/** Series that do not come from the node, each with its source. Keep it short and exact. */
const EXTERNAL: Record<string, string> = {
  up: "Prometheus, per scrape target",
  ALERTS: "Prometheus, alerts in evaluation",
  pg_up: "postgres_exporter (sidecar / compose service)",
  redis_up: "redis_exporter (sidecar / compose service)",
  node_memory_MemTotal_bytes: "node_exporter (compose service)",
  node_memory_MemAvailable_bytes: "node_exporter (compose service)",
  container_memory_working_set_bytes: "cAdvisor through the kubelet",
  container_spec_memory_limit_bytes: "cAdvisor through the kubelet",
};

/** Names a scrape shows for a metric family: a histogram's _bucket, _sum and _count. */
function seriesNames(name: string, type: string): string[] {
  if (type === "histogram") return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === "summary") return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/** The modules that define metrics: every source file that constructs a prom-client metric. */
function metricModules(): string[] {
  return fs
    .readdirSync(REPO, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(REPO, d.name, "src")))
    .flatMap((d) => filesUnder(path.join(REPO, d.name, "src"), ".ts"))
    .filter((file) => !file.includes(`${path.sep}gen${path.sep}`) && !file.includes("node_modules"))
    .filter((file) => {
      const source = fs.readFileSync(file, "utf8");
      return source.includes('from "prom-client"') && /new (Counter|Gauge|Histogram|Summary)\(/.test(source);
    });
}

let exported: Map<string, string>;
let appFamilies: string[];

beforeAll(async () => {
  for (const file of metricModules()) await import(pathToFileURL(file).href);
  // Before Node's default metrics are collected, the registry holds only Parley's own.
  appFamilies = (await register.getMetricsAsJSON()).map((m) => m.name);
  collectProcessMetrics();
  exported = new Map();
  for (const metric of await register.getMetricsAsJSON())
    for (const name of seriesNames(metric.name, String(metric.type))) exported.set(name, String(metric.type));
});

describe("metric names", () => {
  it("finds the node's metric modules and Node's default metrics in the registry", () => {
    expect(metricModules().map((f) => path.relative(REPO, f))).toEqual(
      expect.arrayContaining([
        "signaling/src/metrics.ts",
        "inference-bridge/src/metrics.ts",
        "inference-bridge/src/scoring/metrics.ts",
        "inference-bridge/src/dialogue/metrics.ts",
      ]),
    );
    expect(exported.get("voice_sessions_active")).toBe("gauge");
    expect(exported.has("feedback_quality_score_bucket")).toBe(true);
    expect(exported.has("nodejs_eventloop_lag_p99_seconds")).toBe(true);
    expect(exported.has("process_resident_memory_bytes")).toBe(true);
  });

  it("every metric in the loaded rules, the provisioned dashboards and the adapter is exported", () => {
    const missing = loadedQueries().flatMap((q) =>
      metricNames(q.expr)
        .filter((name) => !exported.has(name) && !(name in EXTERNAL))
        .map((name) => `${q.where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it("every metric the node defines appears on a provisioned dashboard", () => {
    const shown = new Set(
      loadedDashboards()
        .flatMap(dashboardQueries)
        .flatMap((q) => metricNames(q.expr)),
    );
    const hidden = appFamilies.filter((family) => {
      const type = [...exported.entries()].find(([n]) => n === family || n === `${family}_bucket`)?.[1] ?? "gauge";
      return !seriesNames(family, type).some((s) => shown.has(s));
    });
    expect(appFamilies.length).toBeGreaterThan(20);
    expect(hidden).toEqual([]);
  });

  it("the autoscaler's custom metric is served by an adapter rule over an exported gauge", () => {
    const hpa = readYamlDocuments(at("k8s/node.yaml")).find(
      (d) => (d as { kind?: string }).kind === "HorizontalPodAutoscaler",
    ) as { spec: { metrics: { type: string; pods?: { metric: { name: string } } }[] } };
    const podMetrics = hpa.spec.metrics.filter((m) => m.type === "Pods").map((m) => m.pods?.metric.name);
    expect(podMetrics).toEqual(["voice_sessions_active"]);
    const served = adapterRules().map((r) => ({ as: r.name?.as, series: metricNames(r.seriesQuery) }));
    const rule = served.find((r) => r.as === podMetrics[0]);
    expect(rule?.series).toEqual(["voice_sessions_active"]);
    expect(exported.get("voice_sessions_active")).toBe("gauge");
  });
});
