// What the edge's abuse limits cost per request: the in-memory rate limiter
// (synchronous core, and through its async interface as routes call it),
// the client-address resolution (peer text, X-Forwarded-For from a trusted
// proxy, the /64 key) and the per-client caps. Prints ns/op; asserts nothing.
//
//   cd signaling && npx tsx bench/rate-limiter.bench.ts     # KEYS=10000 OPS=2000000
import { ClientIpResolver, clientKey } from "../src/edge/ClientIpResolver.ts";
import { MemoryRateLimiter } from "../src/edge/MemoryRateLimiter.ts";
import { PerClientLimit } from "../src/edge/PerClientLimit.ts";

const KEYS = Number(process.env.KEYS ?? 10_000);
const OPS = Number(process.env.OPS ?? 2_000_000);
const ipv4 = Array.from({ length: KEYS }, (_, i) => `198.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
const ipv6 = Array.from({ length: KEYS }, (_, i) => `2001:db8:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::1`);

function measure(name: string, ops: number, fn: (i: number) => unknown): void {
  for (let i = 0; i < Math.min(ops, 100_000); i++) fn(i); // warm up
  const started = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) fn(i);
  const ns = Number(process.hrtime.bigint() - started) / ops;
  console.log(`${name.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/op`);
}

async function measureAsync(name: string, ops: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(ops, 100_000); i++) await fn(i);
  const started = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) await fn(i);
  const ns = Number(process.hrtime.bigint() - started) / ops;
  console.log(`${name.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/op`);
}

console.log(`${KEYS} distinct clients, ${OPS} operations each`);
const limiter = new MemoryRateLimiter({ name: "bench", windowMs: 900_000, max: 1_000_000_000 });
measure("rate limiter: consumeNow (IPv4 key)", OPS, (i) => limiter.consumeNow(ipv4[i % KEYS]!));
await measureAsync("rate limiter: await consume() (the route's call)", OPS, (i) => limiter.consume(ipv4[i % KEYS]!));
const full = new MemoryRateLimiter({ name: "bench-full", windowMs: 900_000, max: 1 });
measure("rate limiter: consumeNow, every client over its limit", OPS, (i) => full.consumeNow(ipv4[i % KEYS]!));

const direct = new ClientIpResolver([]);
const proxied = new ClientIpResolver(["10.0.0.0/8"]);
measure("client address: IPv4 peer, no proxy", OPS, (i) => direct.resolve(ipv4[i % KEYS]!, ""));
measure("client address: trusted proxy, X-Forwarded-For", OPS, (i) => proxied.resolve("10.0.0.7", ipv4[i % KEYS]!));
measure("client key: IPv6 /64", OPS, (i) => clientKey(ipv6[i % KEYS]!));

const sockets = new PerClientLimit(16);
measure("per-client cap: acquire + release", OPS, (i) => sockets.acquire(ipv4[i % KEYS]!)?.());
