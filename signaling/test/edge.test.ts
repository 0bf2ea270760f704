// The edge's small parts on their own: client addresses, rate counting,
// per-client caps, origins, token buckets and the log budget.
import { describe, expect, it } from "vitest";
import { ClientIpResolver, canonicalIp, clientKey } from "../src/edge/ClientIpResolver.ts";
import { clip, LogThrottle } from "../src/edge/LogThrottle.ts";
import { MemoryRateLimiter } from "../src/edge/MemoryRateLimiter.ts";
import { OriginPolicy } from "../src/edge/OriginPolicy.ts";
import { PerClientLimit } from "../src/edge/PerClientLimit.ts";
import { retryAfterSeconds } from "../src/edge/RateLimiter.ts";
import { TokenBucket } from "../src/edge/TokenBucket.ts";

describe("client addresses", () => {
  it("writes addresses one way: IPv4-mapped IPv6 as IPv4, IPv6 compressed", () => {
    expect(canonicalIp("127.0.0.1")).toBe("127.0.0.1");
    expect(canonicalIp("0000:0000:0000:0000:0000:ffff:7f00:0001")).toBe("127.0.0.1");
    expect(canonicalIp("::FFFF:203.0.113.9")).toBe("203.0.113.9");
    expect(canonicalIp("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(canonicalIp("[2001:db8::1]")).toBe("2001:db8::1");
    expect(canonicalIp("not an address")).toBeUndefined();
  });

  it("reads an IPv6 address with a zone as the address, and never throws at what a header may hold", () => {
    // net.isIP takes a zone; the URL parser that canonicalises IPv6 threw at it (an uncaught throw in uWS).
    expect(canonicalIp("fe80::1%eth0")).toBe("fe80::1");
    expect(canonicalIp("[FE80:0::1%25eth0]")).toBe("fe80::1");
    expect(canonicalIp("::ffff:203.0.113.9%x")).toBe("203.0.113.9");
    for (const odd of ["fe80::1%", "%eth0", "fe80::1%eth0%x", "[", "]", "[]", "::%", "1.2.3.4%eth0"])
      expect(() => canonicalIp(odd)).not.toThrow();
    const proxies = new ClientIpResolver(["127.0.0.1"]);
    expect(proxies.resolve("127.0.0.1", "fe80::1%eth0")).toBe("fe80::1");
  });

  it("counts IPv6 clients by their /64", () => {
    expect(clientKey("203.0.113.9")).toBe("203.0.113.9");
    expect(clientKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8:1:2:bbbb:cccc:dddd:eeee")).toBe("2001:db8:1:2::/64");
    expect(clientKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
  });

  it("believes X-Forwarded-For only from a trusted proxy, read from the right", () => {
    const none = new ClientIpResolver([]);
    expect(none.resolve("198.51.100.7", "203.0.113.9")).toBe("198.51.100.7");
    const proxies = new ClientIpResolver(["10.0.0.0/8", "192.0.2.1"]);
    expect(proxies.resolve("198.51.100.7", "203.0.113.9")).toBe("198.51.100.7"); // peer not trusted
    expect(proxies.resolve("10.1.2.3", "203.0.113.9")).toBe("203.0.113.9");
    // A client may put anything on the left; the first address our proxies did not add counts.
    expect(proxies.resolve("10.1.2.3", "1.2.3.4, 203.0.113.9, 192.0.2.1")).toBe("203.0.113.9");
    expect(proxies.resolve("10.1.2.3", "garbage, 203.0.113.9")).toBe("203.0.113.9");
    expect(proxies.resolve("10.1.2.3", "203.0.113.9, garbage")).toBe("10.1.2.3");
    expect(proxies.resolve("0000:0000:0000:0000:0000:ffff:0a01:0203", "203.0.113.9")).toBe("203.0.113.9");
    expect(() => new ClientIpResolver(["10.0.0.0/33"])).toThrow(/prefix/);
    expect(() => new ClientIpResolver(["proxy.local"])).toThrow(/TRUSTED_PROXIES/);
  });
});

describe("rate limits", () => {
  it("allows max requests per window per key, then says when the window ends", async () => {
    let now = 60_000 * 10 + 15_000;
    const limiter = new MemoryRateLimiter({ name: "t", windowMs: 60_000, max: 2, now: () => now });
    expect((await limiter.consume("a")).allowed).toBe(true);
    expect((await limiter.consume("a")).remaining).toBe(0);
    const refused = await limiter.consume("a");
    expect(refused).toMatchObject({ allowed: false, retryAfterMs: 45_000 });
    expect(retryAfterSeconds(refused.retryAfterMs)).toBe("45");
    expect((await limiter.consume("b")).allowed).toBe(true); // another key
    await limiter.refund("a");
    expect((await limiter.consume("a")).allowed).toBe(true); // a refunded request does not count
    now += 45_000; // the next window
    expect((await limiter.consume("a")).allowed).toBe(true);
    expect(limiter.size).toBe(1);
  });

  it("keeps memory bounded without making new keys share a budget once the table is full", () => {
    // One request from each of maxKeys strangers (cheap with IPv6 /64s) must
    // not lock out the customers who come next: they were all 429 when keys
    // beyond maxKeys shared one counter.
    const limiter = new MemoryRateLimiter({ name: "t", windowMs: 60_000, max: 3, maxKeys: 100, now: () => 0 });
    for (let i = 0; i < 100; i++) limiter.consumeNow(`flood${i}`);
    const customers = Array.from({ length: 50 }, (_, i) => limiter.consumeNow(`customer${i}`));
    expect(customers.every((d) => d.allowed && d.remaining === 2)).toBe(true);
    for (let i = 0; i < 1_000; i++) limiter.consumeNow(`flood-more${i}`);
    expect(limiter.size).toBeLessThanOrEqual(100);
    expect(limiter.consumeNow("late customer")).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("keeps a limited client limited while strangers churn the table; only a flood of limited keys frees it", () => {
    const limiter = new MemoryRateLimiter({ name: "t", windowMs: 60_000, max: 2, maxKeys: 100, now: () => 0 });
    for (let i = 0; i < 3; i++) limiter.consumeNow("abuser");
    // It is the oldest key, but eviction skips keys at their limit, so new
    // keys (cheap to make) cannot push it out and reset its budget.
    for (let i = 0; i < 1_000; i++) limiter.consumeNow(`stranger${i}`);
    expect(limiter.consumeNow("abuser").allowed).toBe(false);
    expect(limiter.size).toBeLessThanOrEqual(100);
    // A table of nothing but limited keys is the true flood: then the oldest
    // go too, so memory stays bounded, at ~maxKeys * max requests to the flooder.
    let flood = 0;
    while (flood < 10_000 && !limiter.consumeNow("abuser").allowed) {
      for (let i = 0; i < 3; i++) limiter.consumeNow(`flood${flood}`);
      flood++;
    }
    expect(flood).toBeGreaterThan(100);
    expect(flood).toBeLessThan(10_000);
    expect(limiter.size).toBeLessThanOrEqual(100);
  });

  it("refuses a bad table size", () => {
    expect(() => new MemoryRateLimiter({ name: "t", windowMs: 60_000, max: 2, maxKeys: 0 })).toThrow(RangeError);
  });
});

describe("per-client caps", () => {
  it("holds at most max slots per client; a release, safe twice, frees one", () => {
    const limit = new PerClientLimit(2);
    const a = limit.acquire("198.51.100.7");
    const b = limit.acquire("198.51.100.7");
    expect(a && b).toBeTruthy();
    expect(limit.acquire("198.51.100.7")).toBeUndefined();
    expect(limit.acquire("2001:db8:1:2::1")).toBeDefined();
    expect(limit.acquire("2001:db8:1:2::2")).toBeDefined();
    expect(limit.acquire("2001:db8:1:2::3")).toBeUndefined(); // same /64
    a!();
    a!();
    expect(limit.held("198.51.100.7")).toBe(1);
    expect(limit.acquire("198.51.100.7")).toBeDefined();
  });
});

describe("origins", () => {
  it("allows the node's own origin, listed ones, and requests without Origin", () => {
    const policy = new OriginPolicy(["https://app.example.com"]);
    expect(policy.allows("", "parley.example.com")).toBe(true);
    expect(policy.allows("https://parley.example.com", "parley.example.com")).toBe(true);
    expect(policy.allows("http://127.0.0.1:8080", "127.0.0.1:8080")).toBe(true);
    expect(policy.allows("http://127.0.0.1:8081", "127.0.0.1:8080")).toBe(false);
    expect(policy.allows("https://APP.example.com", "parley.example.com")).toBe(true);
    expect(policy.allows("https://evil.example", "parley.example.com")).toBe(false);
    expect(policy.allows("null", "parley.example.com")).toBe(false);
  });
});

describe("token buckets and the log budget", () => {
  it("gives burst at once, then ratePerSecond", () => {
    let now = 0;
    const bucket = new TokenBucket(10, 3, () => now);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    expect(bucket.msUntilNext()).toBe(100);
    now += 100;
    expect(bucket.take()).toBe(true);
    expect(bucket.take()).toBe(false);
  });

  it("drops log lines beyond the budget and says how many on the next one", () => {
    let now = 0;
    const throttle = new LogThrottle(1, 2, () => now);
    const results = Array.from({ length: 10 }, () => throttle.admit());
    expect(results.filter((r) => r.ok)).toHaveLength(2);
    now += 1_000;
    expect(throttle.admit()).toEqual({ ok: true, suppressed: 8 });
    expect(clip("x".repeat(10_000))).toMatch(/^x{160}… \(10000 chars\)$/);
    expect(clip("short")).toBe("short");
  });
});
