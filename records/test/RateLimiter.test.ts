// The login limiter's memory is bounded whatever keys unauthenticated callers make up.
import { describe, expect, it } from "vitest";
import { addressKey, RateLimiter } from "../src/auth/RateLimiter.ts";

describe("RateLimiter", () => {
  it("stores nothing for a key it is only asked about", () => {
    const limiter = new RateLimiter({ windowMs: 60_000, max: 3, skipSuccessful: true });
    for (let i = 0; i < 1000; i++) expect(limiter.retryAfterMs(`email:user${i}@x.test`)).toBe(0);
    expect(limiter.size).toBe(0);
  });

  it("never tracks more than maxKeys, forgetting the oldest windows first", () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ windowMs: 60_000, max: 3, skipSuccessful: true, maxKeys: 100, now: () => now });
    for (let i = 0; i < 1000; i++) {
      limiter.record(`email:user${i}@x.test`, false);
      expect(limiter.size).toBeLessThanOrEqual(100);
      now++;
    }
    expect(limiter.size).toBe(100);
    // The newest keys are still counted: three failures block.
    for (let i = 0; i < 2; i++) limiter.record("email:user999@x.test", false);
    expect(limiter.retryAfterMs("email:user999@x.test")).toBeGreaterThan(0);
    // An early key was forgotten, not kept at the expense of new ones.
    for (let i = 0; i < 2; i++) limiter.record("email:user0@x.test", false);
    expect(limiter.retryAfterMs("email:user0@x.test")).toBe(0);
  });

  it("blocks a key after max failures until its window has passed", () => {
    let now = 0;
    const limiter = new RateLimiter({ windowMs: 1000, max: 2, skipSuccessful: true, now: () => now });
    limiter.record("ip:a", true); // a success does not count
    limiter.record("ip:a", false);
    expect(limiter.retryAfterMs("ip:a")).toBe(0);
    limiter.record("ip:a", false);
    now = 400;
    expect(limiter.retryAfterMs("ip:a")).toBe(600);
    now = 1000;
    expect(limiter.retryAfterMs("ip:a")).toBe(0);
    expect(limiter.size).toBe(0); // the expired window went with the question
  });

  it("keeps a lockout while a flood of fresh keys pushes other windows out", () => {
    let now = 1_000_000;
    const limiter = new RateLimiter({ windowMs: 60_000, max: 3, skipSuccessful: true, maxKeys: 100, now: () => now });
    for (let i = 0; i < 3; i++) limiter.record("email:victim@x.test", false);
    expect(limiter.retryAfterMs("email:victim@x.test")).toBeGreaterThan(0);
    for (let i = 0; i < 10_000; i++) {
      limiter.record(`ip:attacker-${i}`, false);
      now++;
    }
    expect(limiter.size).toBeLessThanOrEqual(100);
    expect(limiter.retryAfterMs("email:victim@x.test")).toBeGreaterThan(0);
  });

  it("keys an IPv6 client by its /64, IPv4 as it is", () => {
    expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
    expect(addressKey("::ffff:203.0.113.7")).toBe("::ffff:203.0.113.7");
    expect(addressKey("2001:db8:0:1:aaaa::1")).toBe("2001:db8:0:1::/64");
    expect(addressKey("2001:DB8:0000:0001:ffff:1:2:3")).toBe("2001:db8:0:1::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
  });
});
