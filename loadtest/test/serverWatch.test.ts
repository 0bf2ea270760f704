// Watching the node's processes from /proc (--server-pid): a process that
// goes away while the load runs gives no figures, not figures of zero.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ServerWatch } from "../src/run/ServerWatch.ts";

describe("watching the node's processes", () => {
  it("reads a process's CPU and memory while it lives, then null and why once it is gone", async () => {
    const child = spawn("sleep", ["60"], { stdio: "ignore" });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const watch = new ServerWatch({ metricsUrl: undefined, pid: child.pid, runStartMs: performance.now() });
    await watch.sample(); // the baseline
    const alive = await watch.sample();
    expect(alive.processes).toMatchObject({ node: expect.any(Number), mediasoup: 0 });
    expect(alive.processRssBytes).toBeGreaterThan(0);
    expect(watch.processProblem).toBeUndefined();

    child.kill("SIGKILL");
    await exited; // and reaped: no /proc entry left
    const after = await watch.sample();
    expect(after.processes).toBeNull();
    expect(after.processRssBytes).toBeNull();
    expect(watch.processProblem).toMatch(
      new RegExp(`^process ${child.pid} \\(--server-pid\\) was gone \\d+\\.\\d s into the run`),
    );
  });
});
