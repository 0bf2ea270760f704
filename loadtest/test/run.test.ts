// A load run against a stand-in node: how Ctrl-C stops it, also after its
// set duration, while its sessions are already ending.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LoadRun } from "../src/run/LoadRun.ts";
import { FakeCustomer, FakeNode, syntheticRecording } from "./fakeNode.ts";

let node: FakeNode;
beforeEach(async () => {
  node = await FakeNode.start();
  // A node that never answers endSession: a graceful stop waits for it until the end timeout.
  node.answer = () => undefined;
});
afterEach(() => node.stop());

/** One looped session for 300 ms; the node may take 1.5 s to finalise it. */
const loadRun = () =>
  new LoadRun({
    endpoint: { url: node.url },
    metricsUrl: undefined,
    serverPid: undefined,
    sessions: 1,
    rampPerSecond: 10,
    durationMs: 300,
    loop: true,
    storeCode: "demo",
    recordings: [syntheticRecording(50)],
    tailSilenceMs: 40,
    dtx: false,
    endTimeoutMs: 1_500,
    connect: FakeCustomer.connector(node),
  });

const endRequested = () => node.requests.some((r) => r.case === "endSession");

describe("stopping a load run", () => {
  it("takes the first Ctrl-C after the set duration as 'end gracefully': it still waits for the node", async () => {
    const run = loadRun();
    const running = run.run();
    await expect.poll(endRequested).toBe(true); // the duration is up: every session is ending
    run.stop();
    const outcome = await running;
    expect(outcome.interrupted).toBe(true);
    const [session] = outcome.sessions;
    expect(session?.outcome).toBe("stopped");
    // It waited for the node's answer until the end timeout, as a graceful end does.
    expect(session?.errors).toEqual([expect.objectContaining({ stage: "end", kind: "end_timeout" })]);
  });

  it("takes a second Ctrl-C as 'abort': nobody waits for the node", async () => {
    const run = loadRun();
    const running = run.run();
    await expect.poll(endRequested).toBe(true);
    run.stop();
    run.stop();
    const outcome = await running;
    expect(outcome.interrupted).toBe(true);
    expect(outcome.sessions[0]?.outcome).toBe("stopped");
    expect(outcome.sessions[0]?.errors).toEqual([]);
  });

  it("ends a run that nobody interrupted at its duration, gracefully", async () => {
    node.answer = (r) => (r.case === "endSession" ? { case: "sessionEnded", value: {} } : undefined);
    const outcome = await loadRun().run();
    expect(outcome.interrupted).toBe(false);
    expect(outcome.sessions.map((s) => [s.outcome, s.errors])).toEqual([["stopped", []]]);
  });
});
