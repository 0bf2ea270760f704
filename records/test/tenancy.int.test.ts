// The tenancy matrix: every route × every role × own/other business, called
// directly and over HTTP (node:http adapter). Admins see everything; owners
// and staff only their business (another business's resources are 404, as if
// absent); staff only read; no token is 401. Staff whose token names some
// stores see only those (another store of their business is 404 too). Also
// the live topics, login and its rate limit.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../src/auth/password.ts";
import { RateLimiter } from "../src/auth/RateLimiter.ts";
import { createRoutes } from "../src/http/routes.ts";
import { issueUserToken, type Records, type RecordsResponse, type Route } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { Conversation, openRecords, SECRET, silentLogger, startCluster, uniqueFeedback } from "./helpers.ts";

let pg: PostgresCluster;
let records: Records;
let http: { url: string; close(): Promise<void> };
const ids = {
  a: "",
  b: "",
  sessionA: "",
  sessionA2: "",
  sessionB: "",
  codeA: "",
  codeB: "",
  matrixStaffA: "",
  matrixStaffB: "",
};
const tokens: Record<string, string> = {};
let storeSeq = 0;
let staffSeq = 0;
/** Staff members for the matrix to remove, one per call that may succeed (every role, direct and over HTTP). */
const removable: Record<"A" | "B", string[]> = { A: [], B: [] };

beforeAll(async () => {
  pg = await startCluster();
  records = await openRecords(await pg.createDatabase(), { loginRateLimit: { max: 5, windowMs: 60_000 } });
  http = await serveRoutes(records.routes);
  ids.a = records.demo!.businessId;
  const [b] = await records.sql<
    { id: string }[]
  >`insert into businesses (id, name) values (gen_random_uuid(), 'Other business') returning id`;
  ids.b = b!.id;
  await records.sql`insert into stores (id, business_id, code, name, reward_policy)
                    select gen_random_uuid(), ${ids.b}, 'other', 'Other store', reward_policy from stores where code = 'demo'`;
  // A second store of business A, for staff limited to one store.
  await records.sql`insert into stores (id, business_id, code, name, reward_policy)
                    select gen_random_uuid(), ${ids.a}, 'second', 'Second store', reward_policy from stores where code = 'demo'`;
  const pw = await hashPassword("correct horse battery");
  await records.sql`insert into users (id, email, password_hash, role, business_id) values
    (gen_random_uuid(), 'staff@a.test', ${pw}, 'staff', ${ids.a}),
    (gen_random_uuid(), 'owner@b.test', ${pw}, 'owner', ${ids.b}),
    (gen_random_uuid(), 'staff@b.test', ${pw}, 'staff', ${ids.b})`;
  for (const t of ["A", "B"] as const) {
    const businessId = t === "A" ? ids.a : ids.b;
    const domain = `${t.toLowerCase()}.test`;
    const [staff] = await records.sql<{ id: string }[]>`insert into users (id, email, password_hash, role, business_id)
      values (gen_random_uuid(), ${`matrix@${domain}`}, ${pw}, 'staff', ${businessId}) returning id`;
    ids[`matrixStaff${t}`] = staff!.id;
    const doomed = await records.sql<{ id: string }[]>`insert into users (id, email, password_hash, role, business_id)
      select gen_random_uuid(), 'removable-' || n || ${`@${domain}`}, ${pw}, 'staff', ${businessId}
      from generate_series(1, 14) n returning id`;
    removable[t] = doomed.map((u) => u.id);
  }
  for (const [store, key] of [
    ["demo", "sessionA"],
    ["second", "sessionA2"],
    ["other", "sessionB"],
  ] as const) {
    const c = new Conversation(store);
    const begun = await records.beginSession({
      sessionId: c.sessionId,
      storeCode: store,
      consent: { given: true, version: "v1" },
      deviceId: randomUUID(),
    });
    if (key === "sessionA") ids.codeA = begun.dataCode;
    if (key === "sessionB") ids.codeB = begun.dataCode;
    records.write(c.started());
    for (const [i, line] of uniqueFeedback(key.length * 77).entries()) records.write(c.segment(i + 1, line));
    records.write(c.ended(66));
    ids[key] = c.sessionId;
  }
  await records.flush();
  const login = async (email: string, password: string) => {
    const res = await fetch(`${http.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { token: string }).token;
  };
  tokens.ownerA = await login("demo@parley.local", records.demo!.owner.password);
  tokens.admin = await login("admin@parley.local", records.demo!.admin.password);
  tokens.staffA = await login("staff@a.test", "correct horse battery");
  tokens.ownerB = await login("owner@b.test", "correct horse battery");
  tokens.staffB = await login("staff@b.test", "correct horse battery");
});
afterAll(async () => {
  await http?.close();
  await records?.close();
  await pg?.destroy();
});

type Role = "ownerA" | "staffA" | "admin" | "ownerB" | "staffB" | "anonymous";
type Target = "A" | "B";
interface Case {
  method: Route["method"];
  path: (t: Target) => string;
  body?: () => unknown;
  /** Owners only (staff read). */
  write: boolean;
}

const biz = (t: Target) => (t === "A" ? ids.a : ids.b);
const store = (t: Target) => (t === "A" ? "demo" : "other");
const MATRIX: Record<string, Case> = {
  "GET /api/businesses/:businessId/stores": {
    method: "GET",
    path: (t) => `/api/businesses/${biz(t)}/stores`,
    write: false,
  },
  "POST /api/businesses/:businessId/stores": {
    method: "POST",
    path: (t) => `/api/businesses/${biz(t)}/stores`,
    body: () => ({ code: `store-${++storeSeq}`, name: "New store" }),
    write: true,
  },
  "PATCH /api/businesses/:businessId/stores/:storeCode": {
    method: "PATCH",
    path: (t) => `/api/businesses/${biz(t)}/stores/${store(t)}`,
    body: () => ({ language: "sv-SE", timeZone: "Europe/Stockholm" }),
    write: true,
  },
  "PUT /api/businesses/:businessId/budget": {
    method: "PUT",
    path: (t) => `/api/businesses/${biz(t)}/budget`,
    body: () => ({ dailyBudgetMinor: 50_000 }),
    write: true,
  },
  "GET /api/businesses/:businessId/rewards": {
    method: "GET",
    path: (t) => `/api/businesses/${biz(t)}/rewards`,
    write: false,
  },
  "GET /api/businesses/:businessId/feedback.csv": {
    method: "GET",
    path: (t) => `/api/businesses/${biz(t)}/feedback.csv`,
    write: false,
  },
  "GET /api/businesses/:businessId/audit": {
    method: "GET",
    path: (t) => `/api/businesses/${biz(t)}/audit`,
    write: true,
  },
  "PUT /api/stores/:storeCode/reward-policy": {
    method: "PUT",
    path: (t) => `/api/stores/${store(t)}/reward-policy`,
    body: () => ({ minQuality: 40, tiers: [{ minScore: 40, amountMinor: 500 }], capMinor: 500 }),
    write: true,
  },
  "GET /api/businesses/:businessId/users": {
    method: "GET",
    path: (t) => `/api/businesses/${biz(t)}/users`,
    write: true,
  },
  "POST /api/businesses/:businessId/users": {
    method: "POST",
    path: (t) => `/api/businesses/${biz(t)}/users`,
    body: () => ({ email: `new-staff-${++staffSeq}@x.test`, password: "correct horse battery" }),
    write: true,
  },
  "PUT /api/businesses/:businessId/users/:userId/stores": {
    method: "PUT",
    path: (t) => `/api/businesses/${biz(t)}/users/${t === "A" ? ids.matrixStaffA : ids.matrixStaffB}/stores`,
    body: () => ({ stores: null }),
    write: true,
  },
  "DELETE /api/businesses/:businessId/users/:userId": {
    method: "DELETE",
    path: (t) => `/api/businesses/${biz(t)}/users/${removable[t].pop()}`,
    write: true,
  },
  "GET /api/stores/:storeCode/sessions": {
    method: "GET",
    path: (t) => `/api/stores/${store(t)}/sessions`,
    write: false,
  },
  "GET /api/feedback/:sessionId": {
    method: "GET",
    path: (t) => `/api/feedback/${t === "A" ? ids.sessionA : ids.sessionB}`,
    write: false,
  },
};
/** Routes with their own rules, tested below; every other route must be in MATRIX. */
const SPECIAL = [
  "POST /api/auth/login",
  "GET /api/businesses",
  "POST /api/customer/lookup",
  "POST /api/feedback/lookup",
  "GET /api/customer/sessions/:sessionId",
  "DELETE /api/customer/sessions/:sessionId",
  "GET /api/customer/sessions/:sessionId/reward",
  "POST /api/customer/sessions/:sessionId/reward/claim",
  "POST /api/stripe/webhook",
];

function expected(role: Role, target: Target, write: boolean): number {
  if (role === "anonymous") return 401;
  if (role === "admin") return 200;
  if (write && role.startsWith("staff")) return 403;
  const own = role.endsWith(target);
  return own ? 200 : 404;
}

const ROLES: Role[] = ["ownerA", "staffA", "admin", "ownerB", "staffB", "anonymous"];

function headersFor(role: Role, body: unknown): Record<string, string> {
  return {
    ...(role === "anonymous" ? {} : { authorization: `Bearer ${tokens[role]}` }),
    ...(body === undefined ? {} : { "content-type": "application/json" }),
  };
}

async function callDirect(c: Case, role: Role, target: Target): Promise<RecordsResponse> {
  const url = new URL(c.path(target), "http://x");
  const route = records.routes.find(
    (r) =>
      r.method === c.method &&
      r.path.split("/").length === url.pathname.split("/").length &&
      new RegExp(`^${r.path.replace(/:[^/]+/g, "[^/]+")}$`).test(url.pathname),
  )!;
  const { matchPath } = await import("../src/http/types.ts");
  const body = c.body?.();
  return route.handle({
    params: matchPath(route.path, url.pathname)!,
    query: url.searchParams,
    headers: headersFor(role, body),
    rawBody: Buffer.from(body === undefined ? "" : JSON.stringify(body)),
    ip: "127.0.0.1",
  });
}

describe("tenancy matrix", () => {
  it("covers every route", () => {
    const all = records.routes.map((r) => `${r.method} ${r.path}`).sort();
    expect([...Object.keys(MATRIX), ...SPECIAL].sort()).toEqual(all);
  });

  for (const [name, c] of Object.entries(MATRIX))
    for (const role of ROLES)
      for (const target of ["A", "B"] as const)
        it(`${name} as ${role} on business ${target}`, async () => {
          const want = expected(role, target, c.write);
          const direct = await callDirect(c, role, target);
          const ok = (s: number) => (want === 200 ? s >= 200 && s < 300 : s === want);
          expect(ok(direct.status), `direct: ${direct.status} ${String(direct.body).slice(0, 200)}`).toBe(true);
          const body = c.body?.();
          const res = await fetch(http.url + c.path(target), {
            method: c.method,
            headers: headersFor(role, body),
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          expect(ok(res.status), `http: ${res.status}`).toBe(true);
          const text = await res.text();
          // Nothing of the other business leaks into a successful answer.
          if (ok(res.status) && role !== "admin") expect(text).not.toContain(target === "A" ? ids.b : ids.a);
        });

  it("answers an admin's business that does not exist as another business's: 404 on every business route", async () => {
    const missing = randomUUID();
    for (const [name, c] of Object.entries(MATRIX)) {
      if (!name.includes("/api/businesses/:businessId/")) continue;
      const body = c.body?.();
      const send = (role: Role, path: string) =>
        fetch(http.url + path, {
          method: c.method,
          headers: headersFor(role, body),
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const path = c.path("B");
      const admin = await send("admin", path.replace(ids.b, missing));
      const owner = await send("ownerA", path);
      expect(admin.status, name).toBe(404);
      expect(await admin.text(), name).toBe(await owner.text());
    }
  });

  it("lists only the caller's business, and every business for admins", async () => {
    const list = async (role: Role) =>
      (
        (await (await fetch(`${http.url}/api/businesses`, { headers: headersFor(role, undefined) })).json()) as {
          businesses: { id: string }[];
        }
      ).businesses
        .map((b) => b.id)
        .sort();
    expect(await list("ownerA")).toEqual([ids.a]);
    expect(await list("staffB")).toEqual([ids.b]);
    expect(await list("admin")).toEqual([ids.a, ids.b].sort());
    expect((await fetch(`${http.url}/api/businesses`)).status).toBe(401);
  });

  it("keeps a customer's code to its one session, and off business routes", async () => {
    const h = { "x-parley-data-code": ids.codeA };
    expect((await fetch(`${http.url}/api/customer/sessions/${ids.sessionA}`, { headers: h })).status).toBe(200);
    expect((await fetch(`${http.url}/api/customer/sessions/${ids.sessionB}`, { headers: h })).status).toBe(401);
    expect((await fetch(`${http.url}/api/customer/sessions/${ids.sessionA}/reward`, { headers: h })).status).toBe(200);
    expect((await fetch(`${http.url}/api/customer/sessions/${ids.sessionB}/reward`, { headers: h })).status).toBe(401);
    expect(
      (await fetch(`${http.url}/api/customer/sessions/${ids.sessionB}`, { method: "DELETE", headers: h })).status,
    ).toBe(401);
    expect(
      (await fetch(`${http.url}/api/feedback/${ids.sessionA}`, { headers: { authorization: `Bearer ${ids.codeA}` } }))
        .status,
    ).toBe(401);
  });

  it("lets a business find its own conversation by its customer's data code, and no other business", async () => {
    const find = (role: Role, dataCode: string) =>
      fetch(`${http.url}/api/feedback/lookup`, {
        method: "POST",
        headers: headersFor(role, { dataCode }),
        body: JSON.stringify({ dataCode }),
      });
    const mine = await find("ownerA", ids.codeA.toLowerCase());
    expect(mine.status).toBe(200);
    expect(await mine.json()).toEqual({ sessionId: ids.sessionA, storeCode: "demo" });
    expect((await find("staffA", ids.codeA)).status).toBe(200);
    expect((await find("admin", ids.codeB)).status).toBe(200);
    // Another business's code answers as an unknown one does.
    const theirs = await find("ownerB", ids.codeA);
    const unknown = await find("ownerB", "ZZZZ-ZZZZ-ZZZZ");
    expect([theirs.status, unknown.status]).toEqual([404, 404]);
    expect(await theirs.json()).toEqual(await unknown.json());
    expect((await find("ownerA", ids.codeB)).status).toBe(404);
    expect((await find("anonymous", ids.codeA)).status).toBe(401);
    const [audited] = await records.sql<{ n: number }[]>`
      select count(*)::int as n from audit_log where action = 'feedback.lookup'`;
    expect(audited!.n).toBe(6);
  });

  it("finds a customer's one session by the data code alone, typed loosely, and no other", async () => {
    const lookup = (dataCode: unknown) =>
      fetch(`${http.url}/api/customer/lookup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ dataCode }),
      });
    const found = await lookup(ids.codeA);
    expect(found.status).toBe(200);
    expect(await found.json()).toEqual({ sessionId: ids.sessionA });
    // As a customer copies it from the screen: lower case, in groups of four, O for 0 and L for 1.
    const typed = ids.codeA
      .toLowerCase()
      .match(/.{1,4}/g)!
      .join("-")
      .replace(/0/g, "o")
      .replace(/1/g, "l");
    expect(await (await lookup(typed)).json()).toEqual({ sessionId: ids.sessionA });
    const other = await lookup(ids.codeB);
    expect(await other.json()).toEqual({ sessionId: ids.sessionB });
    expect((await lookup("ZZZZ-ZZZZ-ZZZZ")).status).toBe(404);
    expect((await lookup("")).status).toBe(400);
    expect((await lookup(42)).status).toBe(400);
    expect((await lookup("X".repeat(65))).status).toBe(400);
  });
});

describe("staff limited to some stores", () => {
  const day = 86_400;
  /** A token of business A as a login or a dashboard would issue it (staff.int.test.ts: the login's). */
  const staffOf = (stores: string[] | undefined, role: "staff" | "owner" = "staff") =>
    issueUserToken(SECRET, {
      sub: randomUUID(),
      role,
      bid: ids.a,
      exp: Math.floor(Date.now() / 1000) + day,
      ...(stores ? { stores } : {}),
    });
  const get = (token: string, path: string) =>
    fetch(http.url + path, { headers: { authorization: `Bearer ${token}` } });
  const json = async <T>(token: string, path: string): Promise<T> => {
    const res = await get(token, path);
    expect(res.status, path).toBe(200);
    return (await res.json()) as T;
  };
  const storeCodes = async (token: string) =>
    (await json<{ stores: { code: string }[] }>(token, `/api/businesses/${ids.a}/stores`)).stores
      .map((s) => s.code)
      .filter((c) => c === "demo" || c === "second");
  const rewardStores = async (token: string) =>
    new Set(
      (await json<{ rewards: { storeCode: string }[] }>(token, `/api/businesses/${ids.a}/rewards`)).rewards.map(
        (r) => r.storeCode,
      ),
    );
  const csv = async (token: string) => {
    const res = await get(token, `/api/businesses/${ids.a}/feedback.csv`);
    expect(res.status).toBe(200);
    return res.text();
  };
  /** Status and body, to compare with what another business's resource answers. */
  const answer = async (token: string, path: string) => {
    const res = await get(token, path);
    return { status: res.status, body: await res.text() };
  };

  it("lists only the stores of the claim", async () => {
    expect(await storeCodes(staffOf(["demo"]))).toEqual(["demo"]);
    expect(await storeCodes(staffOf(["second"]))).toEqual(["second"]);
    expect(await storeCodes(staffOf([]))).toEqual([]);
    // No claim: every store, as for the owner; an owner is never limited.
    expect(await storeCodes(tokens.staffA!)).toEqual(["demo", "second"]);
    expect(await storeCodes(staffOf(["demo"], "owner"))).toEqual(["demo", "second"]);
  });

  it("lists only the rewards of the claim's stores", async () => {
    expect(await rewardStores(tokens.staffA!)).toEqual(new Set(["demo", "second"]));
    expect(await rewardStores(staffOf(["demo"]))).toEqual(new Set(["demo"]));
    expect(await rewardStores(staffOf(["demo"], "owner"))).toEqual(new Set(["demo", "second"]));
  });

  it("exports only the feedback of the claim's stores", async () => {
    const all = await csv(tokens.staffA!);
    expect(all).toContain(ids.sessionA);
    expect(all).toContain(ids.sessionA2);
    const mine = await csv(staffOf(["demo"]));
    expect(mine).toContain(ids.sessionA);
    expect(mine).not.toContain(ids.sessionA2);
    expect(mine).not.toContain(",second,");
  });

  it("answers another store's sessions as another business's store: 404", async () => {
    const staff = staffOf(["demo"]);
    const sessions = await json<{ sessions: { id: string }[] }>(staff, "/api/stores/demo/sessions");
    expect(sessions.sessions.map((x) => x.id)).toContain(ids.sessionA);
    const otherBusiness = await answer(staff, "/api/stores/other/sessions");
    expect(otherBusiness.status).toBe(404);
    expect(await answer(staff, "/api/stores/second/sessions")).toEqual(otherBusiness);
    // Without the claim, and for an owner with one, the second store is there.
    for (const token of [tokens.staffA!, staffOf(["demo"], "owner")])
      expect((await get(token, "/api/stores/second/sessions")).status).toBe(200);
  });

  it("answers another store's feedback as another business's session: 404", async () => {
    const staff = staffOf(["demo"]);
    expect((await get(staff, `/api/feedback/${ids.sessionA}`)).status).toBe(200);
    const otherBusiness = await answer(staff, `/api/feedback/${ids.sessionB}`);
    expect(otherBusiness.status).toBe(404);
    expect(await answer(staff, `/api/feedback/${ids.sessionA2}`)).toEqual(otherBusiness);
    for (const token of [tokens.staffA!, staffOf(["demo"], "owner")])
      expect((await get(token, `/api/feedback/${ids.sessionA2}`)).status).toBe(200);
  });
});

describe("login", () => {
  it("refuses wrong passwords alike for unknown and known e-mails, and rate-limits failures", async () => {
    const attempt = (email: string, password: string) =>
      fetch(`${http.url}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "ignored" },
        body: JSON.stringify({ email, password }),
      });
    const unknown = await attempt("nobody@x.test", "whatever");
    const wrong = await attempt("staff@b.test", "wrong password");
    expect([unknown.status, wrong.status]).toEqual([401, 401]);
    expect(await unknown.json()).toEqual(await wrong.json());
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await attempt("staff@b.test", `wrong ${i}`)).status);
    // Per e-mail: 1 failure above + 4 = the limit of 5 (the unknown e-mail's failure is its own; the
    // address's looser cap, ten times that, is far off).
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses.slice(4)).toEqual([429]);
    const blocked = await attempt("staff@b.test", "correct horse battery");
    expect(blocked.status).toBe(429); // even the right password waits out the window
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("answers a blocked IP before tracking its e-mails, and refuses e-mails no user can have", async () => {
    const limiter = new RateLimiter({ windowMs: 60_000, max: 5, skipSuccessful: true });
    const addressLimiter = new RateLimiter({ windowMs: 60_000, max: 5, skipSuccessful: true });
    const routes = createRoutes({
      sql: records.sql,
      logger: silentLogger,
      authSecret: SECRET,
      userTokenTtlMs: 60_000,
      revocations: records.revocations,
      loginLimiter: limiter,
      loginAddressLimiter: addressLimiter,
      codeAddressLimiter: new RateLimiter({ windowMs: 60_000, max: 50, skipSuccessful: true }),
      payouts: undefined,
      now: Date.now,
      verifyDataCode: async () => false,
      findByDataCode: async () => undefined,
      dataRetentionDays: 730,
      voiceRetentionHours: 24,
      sessionLiveLimitMs: 60_000,
    });
    const route = routes.find((r) => r.path === "/api/auth/login")!;
    const attempt = async (email: string, ip = "198.51.100.7") =>
      (
        await route.handle({
          params: {},
          query: new URLSearchParams(),
          headers: { "content-type": "application/json" },
          rawBody: Buffer.from(JSON.stringify({ email, password: "wrong" })),
          ip,
        })
      ).status;
    for (let i = 0; i < 5; i++) expect(await attempt(`guess${i}@x.test`)).toBe(401);
    const tracked = limiter.size; // five e-mails
    expect(addressLimiter.size).toBe(1);
    for (let i = 0; i < 500; i++) expect(await attempt(`flood${i}@x.test`)).toBe(429);
    expect(limiter.size).toBe(tracked);
    // A 16 KB "e-mail" is refused before it reaches the limiter or the database.
    expect(await attempt(`${"a".repeat(16_000)}@x.test`, "198.51.100.8")).toBe(400);
    expect(await attempt(`${"a".repeat(245)}@x.test`, "198.51.100.8")).toBe(401); // 254 characters: still allowed
    expect(limiter.size).toBe(tracked + 1);
    expect(addressLimiter.size).toBe(2);
  });

  it("refuses a tampered token", async () => {
    const [h, p, s] = tokens.staffA!.split(".");
    const claims = JSON.parse(Buffer.from(p!, "base64url").toString());
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: "admin", bid: null })).toString("base64url")}.${s}`;
    expect((await fetch(`${http.url}/api/businesses`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(
      401,
    );
  });
});
