// The business API's own rules, over HTTP against a real PostgreSQL 15: one
// person's mistyped passwords lock out their account, not everyone behind
// their address; a store's language, time zone and currency are checked when
// it is created and when it is changed (PATCH …/stores/:storeCode); an admin
// naming a business that does not exist gets 404 as an owner naming another's
// does; the sessions, rewards and audit lists page with a cursor.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../src/auth/password.ts";
import type { Records } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { openRecords, startCluster } from "./helpers.ts";

const PASSWORD = "correct horse battery";
/** LOGIN_RATE_LIMIT_MAX here; the per-address cap is ten times it (ADDRESS_LIMIT_FACTOR). */
const MAX = 4;

let pg: PostgresCluster;
let records: Records;
let http: { url: string; close(): Promise<void> };
const ids = { a: "", b: "" };
const tokens = { ownerA: "", admin: "", staffA: "", ownerB: "" };

beforeAll(async () => {
  pg = await startCluster();
  records = await openRecords(await pg.createDatabase(), { loginRateLimit: { max: MAX, windowMs: 60_000 } });
  http = await serveRoutes(records.routes);
  ids.a = records.demo!.businessId;
  const [b] = await records.sql<{ id: string }[]>`
    insert into businesses (id, name) values (gen_random_uuid(), 'Other business') returning id`;
  ids.b = b!.id;
  await records.sql`insert into stores (id, business_id, code, name, reward_policy)
                    select gen_random_uuid(), ${ids.b}, 'other', 'Other store', reward_policy from stores where code = 'demo'`;
  const pw = await hashPassword(PASSWORD);
  await records.sql`insert into users (id, email, password_hash, role, business_id) values
    (gen_random_uuid(), 'staff@a.test', ${pw}, 'staff', ${ids.a}),
    (gen_random_uuid(), 'staff2@a.test', ${pw}, 'staff', ${ids.a}),
    (gen_random_uuid(), 'owner@b.test', ${pw}, 'owner', ${ids.b})`;
  tokens.ownerA = await login(records.demo!.owner.email, records.demo!.owner.password);
  tokens.admin = await login(records.demo!.admin.email, records.demo!.admin.password);
  tokens.staffA = await login("staff@a.test", PASSWORD);
  tokens.ownerB = await login("owner@b.test", PASSWORD);
});
afterAll(async () => {
  await http?.close();
  await records?.close();
  await pg?.destroy();
});

async function call(token: string | undefined, method: string, path: string, body?: unknown) {
  const res = await fetch(http.url + path, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const attempt = (email: string, password: string) => call(undefined, "POST", "/api/auth/login", { email, password });

async function login(email: string, password: string): Promise<string> {
  const res = await attempt(email, password);
  expect(res.status, res.text).toBe(200);
  return (JSON.parse(res.text) as { token: string }).token;
}

describe("login rate limits", () => {
  it("locks out the account that was guessed at, not everyone else behind its address", async () => {
    // Every attempt comes from 127.0.0.1: a shop behind one NAT.
    for (let i = 0; i < MAX; i++) expect((await attempt("staff2@a.test", `mistyped ${i}`)).status).toBe(401);
    expect((await attempt("staff2@a.test", "mistyped again")).status).toBe(429);
    // The guessed account stays locked, even to its right password, until its window passes.
    const locked = await attempt("staff2@a.test", PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
    // Everyone else at the address logs in.
    expect((await attempt(records.demo!.owner.email, records.demo!.owner.password)).status).toBe(200);
    expect((await attempt(records.demo!.admin.email, records.demo!.admin.password)).status).toBe(200);
    expect((await attempt("staff@a.test", PASSWORD)).status).toBe(200);
  });

  it("still stops one address trying many accounts, at ten times the per-account limit", async () => {
    const route = records.routes.find((r) => r.path === "/api/auth/login")!;
    const from = async (ip: string, email: string, password: string) =>
      (
        await route.handle({
          params: {},
          query: new URLSearchParams(),
          headers: { "content-type": "application/json" },
          rawBody: Buffer.from(JSON.stringify({ email, password })),
          ip,
        })
      ).status;
    const sprayer = "198.51.100.77";
    // Fewer than MAX per account, so that only the address's count can refuse.
    for (let i = 0; i < MAX * 10; i++) expect(await from(sprayer, `spray${i % 20}@x.test`, `guess ${i}`)).toBe(401);
    expect(await from(sprayer, "staff@a.test", PASSWORD)).toBe(429);
    // The accounts it tried are not locked for everyone else.
    expect(await from("198.51.100.78", "staff@a.test", PASSWORD)).toBe(200);
  });

  it("counts no attempt whose check the database could not make: an outage of ours locks no one out", async () => {
    const route = records.routes.find((r) => r.path === "/api/auth/login")!;
    const ip = "198.51.100.90";
    const owner = async () =>
      (
        await route.handle({
          params: {},
          query: new URLSearchParams(),
          headers: { "content-type": "application/json" },
          rawBody: Buffer.from(JSON.stringify({ email: "owner@b.test", password: PASSWORD })),
          ip,
        })
      ).status;
    await pg.stop();
    try {
      // More than the account's limit, with its right password, while the database is away.
      for (let i = 0; i < MAX + 2; i++) expect(await owner()).toBe(503);
    } finally {
      await pg.start();
    }
    await expect.poll(owner, { timeout: 20_000 }).toBe(200);
  }, 60_000);
});

interface StoreReply {
  code: string;
  name: string;
  language: string;
  timeZone: string;
  currency: string;
}

describe("creating a store", () => {
  let seq = 0;
  const create = (fields: Record<string, unknown>) =>
    call(tokens.ownerA, "POST", `/api/businesses/${ids.a}/stores`, { code: `new-${++seq}`, name: "New", ...fields });
  const stored = async (code: string) =>
    (await records.sql`select language, time_zone from stores where code = ${code}`)[0];

  it("refuses a language that is not a BCP 47 tag of a language", async () => {
    for (const language of ["klingon", "en_US", "", "sv-XX", "x-private", "a".repeat(40), 42]) {
      const res = await create({ language });
      expect(res.status, `${JSON.stringify(language)}: ${res.text}`).toBe(400);
      expect(JSON.parse(res.text).error).toMatch(/language must be a BCP 47 language tag/);
    }
    expect(await stored(`new-${seq}`)).toBeUndefined();
  });

  it("refuses text that is not valid Unicode (a lone surrogate), storing nothing, for stores and staff alike", async () => {
    const res = await create({ name: "Caf\ud800" });
    expect(res.status, res.text).toBe(400);
    expect(JSON.parse(res.text).error).toMatch(/valid Unicode/);
    expect(await stored(`new-${seq}`)).toBeUndefined();
    const email = "lone\udc00@a.test";
    const staff = await call(tokens.ownerA, "POST", `/api/businesses/${ids.a}/users`, { email, password: PASSWORD });
    expect(staff.status, staff.text).toBe(400);
    expect((await records.sql`select 1 from users where email like 'lone%'`).length).toBe(0);
    // A surrogate pair (an emoji) is a character like any other.
    expect((await create({ name: "Café 🍰" })).status).toBe(201);
  });

  it("stores the canonical tag, and sv-SE when none is given", async () => {
    const canonical = await create({ language: "EN-gb" });
    expect(canonical.status, canonical.text).toBe(201);
    expect(JSON.parse(canonical.text)).toMatchObject({ language: "en-GB", currency: "SEK" });
    expect((await stored(`new-${seq}`))?.language).toBe("en-GB");
    const dflt = await create({});
    expect(dflt.status).toBe(201);
    expect(JSON.parse(dflt.text)).toMatchObject({ language: "sv-SE", timeZone: "Europe/Stockholm" });
  });

  it("checks the time zone and the currency", async () => {
    for (const timeZone of ["Mars/Olympus", "+01:00", "", 7]) expect((await create({ timeZone })).status).toBe(400);
    const zone = await create({ timeZone: "europe/helsinki" });
    expect(zone.status, zone.text).toBe(201);
    expect(JSON.parse(zone.text).timeZone).toBe("Europe/Helsinki");
    // ISO 4217's shape, and the business's currency (its rewards and budget are kept in one).
    for (const currency of ["EURO", "kr", 752]) {
      const res = await create({ currency });
      expect(res.status, res.text).toBe(400);
      expect(JSON.parse(res.text).error).toMatch(/ISO 4217/);
    }
    const other = await create({ currency: "EUR" });
    expect(other.status).toBe(400);
    expect(JSON.parse(other.text).error).toMatch(/business's currency, SEK/);
    const sek = await create({ currency: "sek" });
    expect(sek.status, sek.text).toBe(201);
    expect(JSON.parse(sek.text).currency).toBe("SEK");
  });
});

describe("PATCH /api/businesses/:businessId/stores/:storeCode", () => {
  const patch = (token: string, body: unknown, code = "edit-me", businessId = ids.a) =>
    call(token, "PATCH", `/api/businesses/${businessId}/stores/${code}`, body);

  beforeAll(async () => {
    const res = await call(tokens.ownerA, "POST", `/api/businesses/${ids.a}/stores`, {
      code: "edit-me",
      name: "Typo Stoer",
      language: "de-DE",
    });
    expect(res.status, res.text).toBe(201);
  });

  it("lets the owner fix the name and language, audited, and answers the store", async () => {
    const res = await patch(tokens.ownerA, { name: "  Typo Store ", language: "sv-se", timeZone: "Europe/Stockholm" });
    expect(res.status, res.text).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({
      code: "edit-me",
      name: "Typo Store",
      language: "sv-SE",
      timeZone: "Europe/Stockholm",
      currency: "SEK",
    });
    const listed = JSON.parse((await call(tokens.ownerA, "GET", `/api/businesses/${ids.a}/stores`)).text) as {
      stores: StoreReply[];
    };
    expect(listed.stores.find((s) => s.code === "edit-me")).toMatchObject({ name: "Typo Store", language: "sv-SE" });
    const [row] = await records.sql<{ actor: string; business_id: string; detail: unknown }[]>`
      select actor, business_id, detail from audit_log where action = 'store.update' and target = 'store:edit-me'
      order by id desc limit 1`;
    expect(row).toMatchObject({
      actor: "owner",
      business_id: ids.a,
      detail: {
        changes: {
          name: { from: "Typo Stoer", to: "Typo Store" },
          language: { from: "de-DE", to: "sv-SE" },
        },
      },
    });
    // Admins may too.
    const admin = await patch(tokens.admin, { timeZone: "Europe/Oslo" });
    expect(admin.status, admin.text).toBe(200);
    expect(JSON.parse(admin.text).timeZone).toBe("Europe/Oslo");
  });

  it("checks every field as creating a store does, and changes nothing on a refusal", async () => {
    const before = await records.sql`select name, language, time_zone from stores where code = 'edit-me'`;
    for (const body of [
      { language: "klingon" },
      { name: "Fine", language: "en_US" },
      { timeZone: "Mars/Olympus" },
      { currency: "EUR" },
      { currency: "EURO" },
      { name: "" },
      { rewardPolicy: {} },
      { code: "renamed" },
      {},
    ]) {
      const res = await patch(tokens.ownerA, body);
      expect(res.status, `${JSON.stringify(body)}: ${res.text}`).toBe(400);
    }
    expect(await records.sql`select name, language, time_zone from stores where code = 'edit-me'`).toEqual(before);
    expect((await patch(tokens.ownerA, { currency: "sek" })).status).toBe(200);
  });

  it("refuses staff, and answers another business's store as an unknown one", async () => {
    expect((await patch(tokens.staffA, { name: "Mine now" })).status).toBe(403);
    const unknown = await patch(tokens.ownerA, { name: "X" }, "no-such-store");
    expect(unknown.status).toBe(404);
    const others = await patch(tokens.ownerA, { name: "X" }, "other");
    expect({ status: others.status, text: others.text }).toEqual({ status: unknown.status, text: unknown.text });
    const othersPath = await patch(tokens.ownerA, { name: "X" }, "other", ids.b);
    expect({ status: othersPath.status, text: othersPath.text }).toEqual({
      status: unknown.status,
      text: unknown.text,
    });
    // Even with a body that would be refused: nothing tells the other business's store apart.
    expect((await patch(tokens.ownerA, { language: "de-DE" }, "edit-me", ids.b)).status).toBe(404);
    expect((await patch(tokens.admin, { name: "X" }, "other", randomUUID())).status).toBe(404);
    expect((await records.sql`select name from stores where code = 'other'`)[0]?.name).toBe("Other store");
    expect((await patch(tokens.ownerB, { name: "Other store, renamed" }, "other", ids.b)).status).toBe(200);
  });

  it("gives a new language to conversations created afterwards only", async () => {
    const begin = () =>
      records.beginSession({ sessionId: randomUUID(), storeCode: "edit-me", consent: { given: true, version: "v1" } });
    expect((await patch(tokens.ownerA, { language: "sv-SE" })).status).toBe(200);
    const earlier = await begin(); // the node now holds the store (its cache)
    expect(earlier.language).toBe("sv-SE");
    expect((await patch(tokens.ownerA, { language: "en-US" })).status).toBe(200);
    const later = await begin();
    expect(later.language).toBe("en-US");
    expect((await records.findStore("edit-me"))?.language).toBe("en-US");
    expect(earlier.language).toBe("sv-SE");
  });
});

describe("an admin naming a business that does not exist", () => {
  it("gets 404 on every business route, as an owner naming another business does", async () => {
    const missing = randomUUID();
    const userId = randomUUID();
    const routes: [string, string, unknown?][] = [
      ["GET", "stores"],
      ["GET", "rewards"],
      ["GET", "users"],
      ["GET", "audit"],
      ["GET", "feedback.csv"],
      ["POST", "stores", { code: "ghost-store", name: "Ghost" }],
      ["PATCH", "stores/demo", { name: "Ghost" }],
      ["PUT", "budget", { dailyBudgetMinor: 100 }],
      ["POST", "users", { email: "ghost@x.test", password: PASSWORD }],
      ["PUT", `users/${userId}/stores`, { stores: null }],
      ["DELETE", `users/${userId}`],
    ];
    for (const [method, tail, body] of routes) {
      const admin = await call(tokens.admin, method, `/api/businesses/${missing}/${tail}`, body);
      const owner = await call(tokens.ownerA, method, `/api/businesses/${ids.b}/${tail}`, body);
      expect(admin.status, `${method} ${tail}: ${admin.text}`).toBe(404);
      expect(admin.text, `${method} ${tail}`).toBe(owner.text);
    }
    expect(await records.sql`select 1 from audit_log where business_id = ${missing}`).toHaveLength(0);
  });
});

describe("paging the sessions, rewards and audit lists", () => {
  const c = { business: "", store: "" };
  /** Newest first, as the lists order them; several share a created_at, two differ by a microsecond. */
  const sessionIds: string[] = [];
  const rewardIds: string[] = [];
  let auditCount = 0;

  beforeAll(async () => {
    const [business] = await records.sql<{ id: string }[]>`
      insert into businesses (id, name) values (gen_random_uuid(), 'Paged business') returning id`;
    c.business = business!.id;
    const [store] = await records.sql<{ id: string }[]>`
      insert into stores (id, business_id, code, name, reward_policy)
      select gen_random_uuid(), ${c.business}, 'paged', 'Paged store', reward_policy from stores where code = 'demo'
      returning id`;
    c.store = store!.id;
    const times = [
      "2026-03-01 10:00:00.000002+00",
      "2026-03-01 10:00:00.000001+00",
      "2026-03-01 10:00:00+00",
      "2026-03-01 10:00:00+00",
      "2026-03-01 10:00:00+00",
      "2026-02-01 09:00:00+00",
      "2026-01-01 08:00:00+00",
    ];
    const rows = await records.sql<{ id: string; created_at: string }[]>`
      insert into sessions (id, store_id, business_id, status, created_at)
      select gen_random_uuid(), ${c.store}, ${c.business}, 'ended', t::timestamptz from unnest(${times}::text[]) t
      returning id, created_at`;
    const sorted = await records.sql<{ id: string }[]>`
      select id from sessions where business_id = ${c.business} order by created_at desc, id desc`;
    sessionIds.push(...sorted.map((r) => r.id));
    expect(rows).toHaveLength(times.length);
    await records.sql`
      insert into rewards (id, session_id, business_id, store_id, amount_minor, currency, status, reason, created_at)
      select gen_random_uuid(), s.id, s.business_id, s.store_id, 500, 'SEK', 'claimable', 'score', s.created_at
      from sessions s where s.business_id = ${c.business}`;
    const rewards = await records.sql<{ id: string }[]>`
      select id from rewards where business_id = ${c.business} order by created_at desc, id desc`;
    rewardIds.push(...rewards.map((r) => r.id));
    auditCount = 7;
    await records.sql`
      insert into audit_log (at, actor, business_id, action, target)
      select now(), 'system', ${c.business}, 'test.entry', 'entry:' || n from generate_series(1, ${auditCount}) n`;
  });

  /** Every page of `path` at `limit`, following `next`. */
  async function pages<T>(path: string, field: string, limit: number): Promise<{ pages: T[][]; nexts: unknown[] }> {
    const out: T[][] = [];
    const nexts: unknown[] = [];
    let before: string | null = null;
    do {
      const query = `?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ""}`;
      const res = await call(tokens.admin, "GET", path + query);
      expect(res.status, res.text).toBe(200);
      const body = JSON.parse(res.text) as Record<string, unknown> & { next: string | null };
      expect(body).toHaveProperty("next");
      out.push(body[field] as T[]);
      nexts.push(body.next);
      before = body.next;
      expect(out.length).toBeLessThan(20);
    } while (before);
    return { pages: out, nexts };
  }

  it("reaches every session of a store, page by page, none twice", async () => {
    const { pages: got } = await pages<{ id: string }>("/api/stores/paged/sessions", "sessions", 3);
    expect(got.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(got.flat().map((s) => s.id)).toEqual(sessionIds);
    // One a page: every boundary, a microsecond apart and within one created_at, is crossed.
    const single = await pages<{ id: string }>("/api/stores/paged/sessions", "sessions", 1);
    expect(single.pages.flat().map((s) => s.id)).toEqual(sessionIds);
    // Without a limit: today's page of 100, and nothing after it.
    const all = JSON.parse((await call(tokens.admin, "GET", "/api/stores/paged/sessions")).text);
    expect(all.sessions.map((s: { id: string }) => s.id)).toEqual(sessionIds);
    expect(all.next).toBeNull();
  });

  it("reaches every reward of a business, page by page", async () => {
    const { pages: got } = await pages<{ id: string; storeCode: string }>(
      `/api/businesses/${c.business}/rewards`,
      "rewards",
      2,
    );
    expect(got.map((p) => p.length)).toEqual([2, 2, 2, 1]);
    expect(got.flat().map((r) => r.id)).toEqual(rewardIds);
    expect(got[0]![0]).toMatchObject({ storeCode: "paged", amountMinor: 500, currency: "SEK", status: "claimable" });
  });

  it("reaches every audit entry of a business, page by page, as the entries always were", async () => {
    const { pages: got } = await pages<Record<string, unknown>>(`/api/businesses/${c.business}/audit`, "entries", 3);
    expect(got.map((p) => p.length)).toEqual([3, 3, 1]);
    expect(got.flat().map((e) => e.target)).toEqual(
      Array.from({ length: auditCount }, (_, i) => `entry:${auditCount - i}`),
    );
    expect(Object.keys(got[0]![0]!).sort()).toEqual(["action", "actor", "actor_user_id", "at", "detail", "target"]);
  });

  it("refuses a cursor it did not give, or another list's", async () => {
    const rewards = JSON.parse((await call(tokens.admin, "GET", `/api/businesses/${c.business}/rewards?limit=1`)).text);
    expect(typeof rewards.next).toBe("string");
    const wrong = ["not a cursor", Buffer.from("sessions|yesterday|x").toString("base64url"), rewards.next as string];
    for (const before of wrong)
      expect(
        (await call(tokens.admin, "GET", `/api/stores/paged/sessions?before=${encodeURIComponent(before)}`)).status,
      ).toBe(400);
    expect(
      (await call(tokens.admin, "GET", `/api/businesses/${c.business}/audit?before=${rewards.next as string}`)).status,
    ).toBe(400);
  });
});
