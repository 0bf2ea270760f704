import { describe, expect, it } from "vitest";
import { reconnectDelaySeconds } from "../src/db/connect.ts";

describe("reconnecting to the database", () => {
  it("waits at most a second however many connections failed during an outage, and little after one", () => {
    for (const retries of [0, 1, 5, 10, 50, 1000]) {
      const delay = reconnectDelaySeconds(retries);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThanOrEqual(1);
    }
    expect(reconnectDelaySeconds(1)).toBeLessThanOrEqual(0.1);
  });
});
