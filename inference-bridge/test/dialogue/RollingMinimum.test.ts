import { describe, expect, it } from "vitest";
import { RollingMinimum } from "../../src/dialogue/RollingMinimum.ts";

describe("RollingMinimum", () => {
  it("is the minimum of the current block and the whole blocks before it", () => {
    const blockSize = 4;
    const blocks = 3;
    const minimum = new RollingMinimum(blockSize, blocks, 50);
    let x = 7;
    const values: number[] = [];
    for (let i = 0; i < 200; i++) {
      x = (x * 1_103_515_245 + 12_345) % 2_147_483_648; // seeded, so every run sees the same values
      values.push(x % 100);
      const from = Math.floor(i / blockSize) * blockSize - blocks * blockSize;
      // Before the first value it has seen `initial` (50).
      const window = [...(from < 0 ? [50] : []), ...values.slice(Math.max(0, from), i + 1)];
      expect(minimum.push(values[i]!), `value ${i}`).toBe(Math.min(...window));
    }
  });

  it("forgets a low value once its block leaves the window", () => {
    const minimum = new RollingMinimum(10, 10, 0);
    // The initial silence is forgotten after 10 whole blocks.
    for (let i = 0; i < 100; i++) expect(minimum.push(5)).toBe(0);
    expect(minimum.push(5)).toBe(5);
  });
});
