// The node's LLM queue: a bounded waiting room, urgent requests (a turn's
// follow-up, a final score) ahead of routine partial re-scores.
import { describe, expect, it } from "vitest";
import { BoundedQueue } from "../../src/scoring/BoundedQueue.ts";
import type { LlmPriority } from "../../src/scoring/types.ts";
import { flush } from "./fakes.ts";

function setup(maxConcurrent: number, maxWaiting: number) {
  const queue = new BoundedQueue({ maxConcurrent, maxWaiting });
  const granted: string[] = [];
  const refused: { name: string; reason: unknown }[] = [];
  const releases = new Map<string, () => void>();
  const ask = (name: string, priority?: LlmPriority, signal = new AbortController().signal) =>
    queue.acquire(signal, priority).then(
      (release) => {
        granted.push(name);
        releases.set(name, release);
      },
      (err: { reason?: unknown }) => {
        refused.push({ name, reason: err.reason });
      },
    );
  return { queue, granted, refused, ask, release: (name: string) => releases.get(name)?.() };
}

describe("BoundedQueue", () => {
  it("runs at most maxConcurrent, lets the rest wait in order, refuses beyond the waiting room", async () => {
    const q = setup(1, 2);
    void q.ask("a");
    void q.ask("b");
    void q.ask("c");
    void q.ask("d");
    await flush();
    expect(q.granted).toEqual(["a"]);
    expect(q.refused).toEqual([{ name: "d", reason: "queue_full" }]);
    q.release("a");
    await flush();
    expect(q.granted).toEqual(["a", "b"]);
    q.release("b");
    await flush();
    expect(q.granted).toEqual(["a", "b", "c"]);
  });

  it("lets urgent requests go before routine ones that waited longer, in order among themselves", async () => {
    const q = setup(1, 8);
    void q.ask("running");
    void q.ask("partial-1");
    void q.ask("planner", "urgent");
    void q.ask("partial-2", "routine");
    void q.ask("final", "urgent");
    await flush();
    for (const name of ["running", "planner", "final", "partial-1"]) {
      q.release(name);
      await flush();
    }
    expect(q.granted).toEqual(["running", "planner", "final", "partial-1", "partial-2"]);
  });

  it("makes room for an urgent request by refusing the newest routine one; urgent ones are never bumped", async () => {
    const q = setup(1, 2);
    void q.ask("running");
    void q.ask("partial-1");
    void q.ask("partial-2");
    void q.ask("planner", "urgent");
    await flush();
    expect(q.refused).toEqual([{ name: "partial-2", reason: "queue_full" }]);
    expect(q.queue.waiting).toBe(2);
    void q.ask("final", "urgent"); // bumps partial-1
    void q.ask("another", "urgent"); // nothing routine left to bump
    await flush();
    expect(q.refused.map((r) => r.name)).toEqual(["partial-2", "partial-1", "another"]);
    q.release("running");
    await flush();
    expect(q.granted).toEqual(["running", "planner"]);
  });

  it("forgets a waiter whose caller gave up", async () => {
    const q = setup(1, 1);
    const controller = new AbortController();
    void q.ask("running");
    void q.ask("gave-up", "urgent", controller.signal);
    controller.abort();
    await flush();
    expect(q.refused).toEqual([{ name: "gave-up", reason: "aborted" }]);
    expect(q.queue.waiting).toBe(0);
    void q.ask("next");
    q.release("running");
    await flush();
    expect(q.granted).toEqual(["running", "next"]);
  });
});
