// The HTTP edge as an attacker meets it: headers on every response, methods,
// CORS, the internal listener, readiness from a cached probe, rate limits by
// client and by store, per-client session caps, and the public store look-up.
// Real nodes on loopback.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { AsrWorkerProcess } from "@parley/inference-bridge";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ClientIpResolver } from "../src/edge/ClientIpResolver.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { addStore, createSession, ownerToken, startServer, TestSocket } from "./harness.ts";

const LISTED = "https://app.example.com";
let asr: AsrWorkerProcess;
const servers: ParleyServer[] = [];
let server: ParleyServer;

/** Nodes of this file share one speech worker (they need capacity, not transcripts). */
async function node(env: Record<string, string> = {}) {
  const s = await startServer({ ASR_WORKERS: asr.address, ALLOWED_ORIGINS: LISTED, ...env });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  asr = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), maxStreams: 4 });
  server = await node();
}, 60_000);
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await asr?.stop();
});

const post = (s: ParleyServer, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}/api/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    // The customer consented to the recording (POST /api/sessions needs it).
    body: JSON.stringify({ consent: { given: true, version: "test-1" }, ...(body as object) }),
  });

/** rate_limit_refusals_total{limit} as the node's internal listener reports it (the registry is per process: compare deltas). */
async function refusals(s: ParleyServer, limit: string): Promise<number> {
  const text = await (await fetch(`${s.internalUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`rate_limit_refusals_total{limit="${limit}"}`));
  if (!line) throw new Error(`no rate_limit_refusals_total series for ${limit}`);
  return Number(line.split(" ").at(-1));
}

function expectSecurityHeaders(res: Response) {
  const h = res.headers;
  const csp = h.get("content-security-policy") ?? "";
  expect(csp).toMatch(/default-src 'self'/);
  expect(csp).toMatch(/script-src 'self'(;|$)/); // no 'unsafe-inline', no 'unsafe-eval'
  expect(csp).toMatch(/frame-ancestors 'none'/);
  expect(csp).not.toMatch(/unsafe/);
  expect(h.get("x-content-type-options")).toBe("nosniff");
  expect(h.get("x-frame-options")).toBe("DENY");
  expect(h.get("referrer-policy")).toBe("no-referrer");
  expect(h.get("permissions-policy")).toMatch(/microphone=\(self\)/);
  expect(h.get("server")).toBeNull();
  expect(h.get("x-powered-by")).toBeNull();
}

describe("security headers", () => {
  it("come with every response: the app, the API, errors, refusals", async () => {
    const responses = [
      await fetch(`${server.url}/?store=demo`),
      await fetch(`${server.url}/health`),
      await post(server, { storeCode: "demo" }),
      await post(server, { storeCode: "made-up-store" }),
      await fetch(`${server.url}/nope.js`),
      await fetch(`${server.url}/api/sessions`),
      await fetch(`${server.url}/ws`),
      await fetch(`${server.url}/metrics`),
      await fetch(`${server.internalUrl}/metrics`),
      await fetch(`${server.url}/api/sessions`, { method: "OPTIONS" }),
      await fetch(`${server.url}/api/stores/demo`),
      await fetch(`${server.url}/api/stores/made-up-store`),
    ];
    expect(responses.map((r) => r.status)).toEqual([200, 200, 201, 404, 404, 405, 426, 404, 200, 204, 200, 404]);
    for (const res of responses) expectSecurityHeaders(res);
    expect(responses[0]!.headers.get("strict-transport-security")).toBeNull(); // plain HTTP
  });

  it("add HSTS when the node serves TLS", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "parley-edge-tls-"));
    try {
      execFileSync(
        "openssl",
        ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat(
          ["-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=localhost", "-days", "1"],
          ["-addext", "subjectAltName=IP:127.0.0.1"],
        ),
        { cwd: dir, stdio: "pipe" },
      );
      const tls = await node({ TLS_CERT_FILE: path.join(dir, "cert.pem"), TLS_KEY_FILE: path.join(dir, "key.pem") });
      const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) =>
        https
          .get(`${tls.url}/health`, { ca: readFileSync(path.join(dir, "cert.pem")) }, (res) => {
            res.resume();
            resolve(res.headers);
          })
          .on("error", reject),
      );
      expect(headers["strict-transport-security"]).toMatch(/max-age=\d{8}/);
      expect(headers["x-frame-options"]).toBe("DENY");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("methods", () => {
  it("answers a wrong method on a known route with 405 and Allow, an unknown route with 404", async () => {
    const get = await fetch(`${server.url}/api/sessions`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST, OPTIONS");
    const del = await fetch(`${server.url}/health`, { method: "DELETE" });
    expect(del.status).toBe(405);
    expect(del.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    const post = await fetch(`${server.url}/api/stores/demo`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
    const put = await fetch(`${server.url}/index.html`, { method: "PUT", body: "x" });
    expect(put.status).toBe(405);
    expect(put.headers.get("allow")).toBe("GET, HEAD");
    expect((await fetch(`${server.url}/api/nothing`, { method: "POST", body: "{}" })).status).toBe(404);
    expect((await fetch(`${server.url}/api/nothing`)).status).toBe(404); // not the app's index.html
    expect((await fetch(`${server.url}/nothing.png`)).status).toBe(404);
  });

  it("routes the records API's PATCH (a store's change) with its body, and lists it in Allow", async () => {
    const business = server.records.demo!.businessId;
    const path = `${server.url}/api/businesses/${business}/stores/demo`;
    const json = { "content-type": "application/json" };
    expect((await fetch(path, { method: "PATCH", headers: json, body: "{}" })).status).toBe(401);
    const owner = { ...json, authorization: `Bearer ${await ownerToken(server)}` };
    const stores = (await (
      await fetch(`${server.url}/api/businesses/${business}/stores`, { headers: owner })
    ).json()) as {
      stores: { code: string; name: string }[];
    };
    const name = stores.stores.find((s) => s.code === "demo")!.name;
    const res = await fetch(path, { method: "PATCH", headers: owner, body: JSON.stringify({ name }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ code: "demo", name });
    const options = await fetch(path, { method: "OPTIONS" });
    expect(options.headers.get("allow")).toBe("PATCH, OPTIONS");
  });

  it("answers HEAD like GET, without the body", async () => {
    for (const url of [`${server.url}/`, `${server.url}/health`]) {
      const get = await fetch(url);
      const body = await get.arrayBuffer();
      const head = await fetch(url, { method: "HEAD" });
      expect(head.status).toBe(get.status);
      expect(head.headers.get("content-type")).toBe(get.headers.get("content-type"));
      expect(Number(head.headers.get("content-length"))).toBe(body.byteLength);
      expect((await head.arrayBuffer()).byteLength).toBe(0);
    }
  });

  it("never closes a connection without a response, whatever the method and route", async () => {
    const routes = ["/", "/index.html", "/health", "/ready", "/metrics", "/api/sessions", "/api/stores/demo"].concat([
      "/ws",
      "/x/y/z",
      "/a.b",
    ]);
    const methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"];
    for (const route of routes)
      for (const method of methods) {
        const res = await fetch(`${server.url}${route}`, {
          method,
          ...(method === "GET" || method === "HEAD" ? {} : { body: "{}" }),
        });
        expect(res.status, `${method} ${route}`).toBeGreaterThanOrEqual(200);
        expectSecurityHeaders(res);
        await res.arrayBuffer();
      }
  });
});

describe("client addresses no request can crash the node with", () => {
  it("takes an X-Forwarded-For address with an IPv6 zone from a trusted proxy as the address", async () => {
    // The zone made canonicalising throw in uWS's callback: an uncaught exception, the node gone.
    const s = await node({ TRUSTED_PROXIES: "127.0.0.1" });
    const zoned = { "x-forwarded-for": "fe80::1%eth0" };
    expect((await fetch(`${s.url}/health`, { headers: zoned })).status).toBe(200);
    expect((await post(s, { storeCode: "demo" }, zoned)).status).toBe(201);
    expect((await fetch(`${s.url}/health`)).status).toBe(200);
  });

  it("answers 400, and stays up, when reading a request throws", async () => {
    const resolve = vi.spyOn(ClientIpResolver.prototype, "resolve").mockImplementation(() => {
      throw new Error("injected: the request cannot be read");
    });
    try {
      const res = await fetch(`${server.url}/health`);
      expect(res.status).toBe(400);
      expectSecurityHeaders(res);
      expect(await res.json()).toEqual({ error: "the request could not be read" });
    } finally {
      resolve.mockRestore();
    }
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
  });
});

describe("CORS", () => {
  const preflight = (origin: string, method = "POST", headers = "content-type") =>
    fetch(`${server.url}/api/sessions`, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers },
    });

  it("grants a preflight to a listed origin only", async () => {
    const listed = await preflight(LISTED);
    expect(listed.status).toBe(204);
    expect(listed.headers.get("access-control-allow-origin")).toBe(LISTED);
    expect(listed.headers.get("access-control-allow-methods")).toBe("POST");
    expect(listed.headers.get("vary")).toBe("Origin");
    expect((await preflight("https://evil.example")).status).toBe(403);
    expect((await preflight(LISTED, "DELETE")).status).toBe(403);
    expect((await preflight(LISTED, "POST", "x-custom")).status).toBe(403);
    const same = await preflight(new URL(server.url).origin);
    expect(same.status).toBe(204);
    expect(same.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("refuses a write from a foreign page, serves a listed one with its CORS header", async () => {
    const foreign = await post(server, { storeCode: "demo" }, { origin: "https://evil.example" });
    expect(foreign.status).toBe(403);
    const listed = await post(server, { storeCode: "demo" }, { origin: LISTED });
    expect(listed.status).toBe(201);
    expect(listed.headers.get("access-control-allow-origin")).toBe(LISTED);
    const same = await post(server, { storeCode: "demo" }, { origin: new URL(server.url).origin });
    expect(same.status).toBe(201);
    expect(same.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("readiness and metrics", () => {
  it("are not on the public listener; the internal one serves them", async () => {
    expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    expect((await fetch(`${server.url}/ready`)).status).toBe(404);
    expect(new URL(server.internalUrl).hostname).toBe("127.0.0.1");
    expect((await fetch(`${server.internalUrl}/ready`)).status).toBe(200);
    expect(await (await fetch(`${server.internalUrl}/metrics`)).text()).toMatch(/http_requests_total/);
    expect((await fetch(`${server.internalUrl}/api/sessions`, { method: "POST", body: "{}" })).status).toBe(404);
  });

  it("are served publicly to the bearer of METRICS_AUTH_TOKEN", async () => {
    const s = await node({ METRICS_AUTH_TOKEN: "prometheus-scrape-token" });
    const metrics = (authorization?: string) =>
      fetch(`${s.url}/metrics`, authorization ? { headers: { authorization } } : {});
    expect((await metrics()).status).toBe(401);
    expect((await metrics("Bearer wrong")).status).toBe(401);
    expect((await metrics("Bearer prometheus-scrape-token")).status).toBe(200);
    const ready = await fetch(`${s.url}/ready`, { headers: { authorization: "Bearer prometheus-scrape-token" } });
    expect(ready.status).toBe(200);
  });

  it("answers /ready from a probe made at most once per second per speech worker", async () => {
    const probes = async () => {
      const text = await (await fetch(`${server.internalUrl}/metrics`)).text();
      const line = text.split("\n").find((l) => l.startsWith(`asr_worker_probes_total{worker="${asr.address}"}`));
      return Number(line?.split(" ").at(-1) ?? 0);
    };
    const before = await probes();
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 40 }, () => fetch(`${server.internalUrl}/ready`)));
    for (let i = 0; i < 40; i++) await fetch(`${server.internalUrl}/ready`);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const seconds = (performance.now() - started) / 1000;
    expect((await probes()) - before).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  });

  it("makes no metric label out of a store code a client invented", async () => {
    expect((await post(server, { storeCode: "invented-store-42" })).status).toBe(404);
    expect(await (await fetch(`${server.internalUrl}/metrics`)).text()).not.toMatch(/invented-store-42/);
  });
});

describe("GET /api/stores/:code", () => {
  const lookUp = (s: ParleyServer, code: string, headers: Record<string, string> = {}) =>
    fetch(`${s.url}/api/stores/${code}`, { headers });

  it("tells anyone whether a store exists, with its name, language and the node's retention, and nothing else", async () => {
    const demo = await lookUp(server, "demo");
    expect(demo.status).toBe(200);
    // The defaults of DATA_RETENTION_DAYS and VOICE_DATA_RETENTION_HOURS: what the consent screen states.
    const retention = { transcriptDays: 730, voiceDataHours: 24 };
    expect(await demo.json()).toEqual({ code: "demo", name: "Demo store", language: "en-US", retention });
    await addStore(server, "kafe-sol", "sv-SE");
    const added = await lookUp(server, "kafe-sol");
    // Not its business, reward policy, currency or id: those are the business's.
    expect(await added.json()).toEqual({ code: "kafe-sol", name: "kafe-sol", language: "sv-SE", retention });
    expect(added.headers.get("content-type")).toBe("application/json");
  });

  it("states the retention this node is configured with, for the consent screen to say", async () => {
    const s = await node({ DATA_RETENTION_DAYS: "30", VOICE_DATA_RETENTION_HOURS: "1" });
    const demo = await lookUp(s, "demo");
    expect(demo.status).toBe(200);
    expect(((await demo.json()) as { retention: unknown }).retention).toEqual({
      transcriptDays: 30,
      voiceDataHours: 1,
    });
  });

  it("answers 404 for a code no store has, 400 for one no store can have, without echoing it", async () => {
    const unknown = await lookUp(server, "no-such-store");
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).not.toMatch(/no-such-store/);
    for (const code of ["x", "-demo", "d%20emo", "%E0%A4%A", encodeURIComponent("<script>"), "a".repeat(65)]) {
      const res = await lookUp(server, code);
      expect(res.status, code).toBe(400);
      expect(await res.text(), code).not.toMatch(/script/);
    }
    // A path under it is no store look-up (and no index.html).
    expect((await lookUp(server, "demo/extra")).status).toBe(404);
    expect((await fetch(`${server.internalUrl}/api/stores/demo`)).status).toBe(404);
  });

  it("limits look-ups per client with 429 and Retry-After; a store code makes no metric label", async () => {
    const s = await node({ RATE_LIMIT_MAX_REQUESTS: "2", RATE_LIMIT_WINDOW_MS: "60000" });
    expect((await lookUp(s, "demo")).status).toBe(200);
    expect((await lookUp(s, "invented-store-43")).status).toBe(404);
    const refused = await lookUp(s, "demo");
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expectSecurityHeaders(refused);
    // Its own count: creating a session is not refused for the look-ups.
    expect((await post(s, { storeCode: "demo" })).status).toBe(201);
    expect(await (await fetch(`${s.internalUrl}/metrics`)).text()).not.toMatch(/invented-store-43/);
  });
});

describe("rate limits and caps", () => {
  it("limits session creation per client with 429 and Retry-After; X-Forwarded-For from an untrusted peer changes nothing", async () => {
    const s = await node({ RATE_LIMIT_MAX_REQUESTS: "3", RATE_LIMIT_WINDOW_MS: "60000" });
    for (let i = 0; i < 3; i++)
      expect((await post(s, { storeCode: "demo" }, { "x-forwarded-for": `203.0.113.${i}` })).status).toBe(201);
    const refused = await post(s, { storeCode: "demo" }, { "x-forwarded-for": "203.0.113.99" });
    expect(refused.status).toBe(429);
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expectSecurityHeaders(refused);
  });

  it("limits per store, and counts clients by X-Forwarded-For behind a trusted proxy", async () => {
    const s = await node({
      TRUSTED_PROXIES: "127.0.0.1",
      RATE_LIMIT_MAX_REQUESTS: "2",
      RATE_LIMIT_MAX_REQUESTS_PER_STORE: "3",
    });
    await addStore(s, "other");
    const before = { client: await refusals(s, "sessions-client"), store: await refusals(s, "sessions-store") };
    const from = (ip: string, storeCode = "demo") => post(s, { storeCode }, { "x-forwarded-for": ip });
    expect((await from("203.0.113.1")).status).toBe(201);
    expect((await from("203.0.113.1")).status).toBe(201);
    expect((await from("203.0.113.1")).status).toBe(429); // this client's limit
    expect((await from("203.0.113.2")).status).toBe(201); // another client behind the proxy
    const store = await from("203.0.113.3");
    expect(store.status).toBe(429); // the store's limit: 3 in this window
    expect(await store.json()).toMatchObject({ error: expect.stringMatching(/store/) });
    expect((await from("203.0.113.3", "other")).status).toBe(201);
    // Each refusal is counted under the limit that made it.
    expect(await refusals(s, "sessions-client")).toBe(before.client + 1);
    expect(await refusals(s, "sessions-store")).toBe(before.store + 1);
  });

  it("counts refused logins and data-code guesses under records' limits", async () => {
    const s = await node({ LOGIN_RATE_LIMIT_MAX: "2" });
    const before = { login: await refusals(s, "login"), code: await refusals(s, "data-code-address") };
    const login = () =>
      fetch(`${s.url}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "nobody@example.com", password: "wrong password" }),
      });
    expect((await login()).status).toBe(401);
    expect((await login()).status).toBe(401);
    expect((await login()).status).toBe(429);
    expect(await refusals(s, "login")).toBe(before.login + 1);
    // Data-code look-ups: 10 × LOGIN_RATE_LIMIT_MAX per address, then 429.
    const lookUpCode = () =>
      fetch(`${s.url}/api/customer/lookup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ dataCode: "ABCD-EFGH-JKMN" }),
      });
    let refused = 0;
    for (let i = 0; i < 25 && refused === 0; i++) if ((await lookUpCode()).status === 429) refused++;
    expect(refused).toBe(1);
    expect(await refusals(s, "data-code-address")).toBe(before.code + 1);
  });

  it("caps the sessions one client holds open; one ending frees a slot", async () => {
    const s = await node({ SESSIONS_MAX_PER_IP: "2" });
    const first = await createSession(s);
    await createSession(s);
    const third = await post(s, { storeCode: "demo" });
    expect(third.status).toBe(429);
    expect(await third.json()).toMatchObject({ error: expect.stringMatching(/open sessions/) });
    const socket = await TestSocket.open(s);
    expect((await socket.request({ case: "join", value: { token: first.token } })).case).toBe("joined");
    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    socket.close();
    expect((await post(s, { storeCode: "demo" })).status).toBe(201);
  });
});
