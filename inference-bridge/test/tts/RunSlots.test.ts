import { describe, expect, it } from "vitest";
import { RunSlots } from "../../src/tts/RunSlots.ts";

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe("RunSlots", () => {
  it("grants maxRunning at once, the waiting ones in order as runs end, and refuses beyond maxWaiting", async () => {
    const slots = new RunSlots({ maxRunning: 1, maxWaiting: 1 });
    const order: string[] = [];
    const first = await slots.acquire();
    const second = slots.acquire().then((release) => {
      order.push("second");
      return release;
    });
    await expect(slots.acquire()).rejects.toMatchObject({ name: "SynthesisError", reason: "busy" });
    await flush();
    expect(order).toEqual([]);
    first();
    first(); // safe twice: frees one slot, not two
    (await second)();
    expect(order).toEqual(["second"]);
    expect(slots.running).toBe(0);
  });

  it("forgets a waiter whose caller gave up, rejecting it with an AbortError", async () => {
    const slots = new RunSlots({ maxRunning: 1, maxWaiting: 1 });
    const release = await slots.acquire();
    const controller = new AbortController();
    const waiting = slots.acquire(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ name: "AbortError" });
    expect(slots.waiting).toBe(0);
    const next = slots.acquire();
    release();
    await expect(next).resolves.toBeTypeOf("function");
  });
});
