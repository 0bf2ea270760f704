import { describe, expect, it } from "vitest";
import { ClientOutbox } from "../../src/wall/ClientOutbox.ts";

const frame = (tag: number, bytes = 100) => new Uint8Array(bytes).fill(tag);
const drain = (o: ClientOutbox) => {
  const out: number[] = [];
  for (let f = o.shift(); f; f = o.shift()) out.push(f[0]!);
  return out;
};

describe("a slow dashboard's queue", () => {
  it("coalesces a segment's partials into the newest, delivered in publication order", () => {
    const o = new ClientOutbox({ dropPartialsBytes: 10_000, closeBytes: 10_000 });
    o.push(frame(1), "s/1", true); // partial of segment 1
    o.push(frame(2)); // a score
    o.push(frame(3), "s/1", true); // newer partial of segment 1: replaces 1, after 2
    o.push(frame(4), "s/2", true);
    expect(o.bytes).toBe(300);
    expect(drain(o)).toEqual([2, 3, 4]);
    expect(o.empty).toBe(true);
  });

  it("lets a final supersede its queued partial", () => {
    const o = new ClientOutbox({ dropPartialsBytes: 10_000, closeBytes: 10_000 });
    o.push(frame(1), "s/1", true);
    o.push(frame(2), "s/1", false); // the final of segment 1
    expect(drain(o)).toEqual([2]);
  });

  it("drops every partial past its limit, never a final, and reports how many once caught up", () => {
    const o = new ClientOutbox({ dropPartialsBytes: 450, closeBytes: 10_000 });
    o.push(frame(1), "s/1", true);
    o.push(frame(2), "s/2", true);
    o.push(frame(3)); // essential
    o.push(frame(4), "s/3", true);
    expect(o.dropping).toBe(false);
    expect(o.push(frame(5), "s/4", true)).toBe("dropped"); // 500 > 450: all queued partials go
    expect(o.dropping).toBe(true);
    expect(o.push(frame(6), "s/5", true)).toBe("dropped"); // while dropping, partials are not queued
    expect(o.push(frame(7))).toBe("queued"); // finals still are
    expect(o.takeDropped()).toBe(0); // not caught up yet
    expect(drain(o)).toEqual([3, 7]);
    expect(o.takeDropped()).toBe(5);
    expect(o.dropping).toBe(false);
    expect(o.push(frame(8), "s/6", true)).toBe("queued");
  });

  it("says overflow when finals alone exceed the close limit", () => {
    const o = new ClientOutbox({ dropPartialsBytes: 100, closeBytes: 250 });
    expect(o.push(frame(1))).toBe("queued");
    expect(o.push(frame(2))).toBe("queued");
    expect(o.push(frame(3))).toBe("overflow");
  });

  it("counts only what is still queued after shifting and replacing", () => {
    const o = new ClientOutbox({ dropPartialsBytes: 10_000, closeBytes: 250 });
    for (let i = 0; i < 2000; i++) {
      o.push(frame(i % 250, 10), "monitor", true);
      o.push(frame(i % 250, 10));
      o.shift();
    }
    // Essentials are shifted as fast as they come: never near the close limit.
    expect(o.bytes).toBeLessThanOrEqual(20);
  });
});
