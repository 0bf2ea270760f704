// The records API where requests race or carry what the database cannot
// take, on a real PostgreSQL 15: logins sent at once are limited as if sent
// one by one; a login racing a staff member's removal gives no token that
// outlives it; a NUL, a fractional limit or an unknown business answer 4xx,
// not 500; content a node's queue writes after the customer deleted
// their conversation is not shown to the business; and the app's polling of
// a reward reads it alone, authorised and limited as the customer's data view
// is, without filling the audit log.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashPassword } from "../src/auth/password.ts";
import type { Records } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { Conversation, openRecords, startCluster, uniqueFeedback } from "./helpers.ts";

const LOGIN_MAX = 10;
let pg: PostgresCluster;
let records: Records;
let http: { url: string; close(): Promise<void> };
let owner = "";
let admin = "";

beforeAll(async () => {
  pg = await startCluster();
  records = await openRecords(await pg.createDatabase(), { loginRateLimit: { max: LOGIN_MAX, windowMs: 60_000 } });
  http = await serveRoutes(records.routes);
  owner = (await login(records.demo!.owner.email, records.demo!.owner.password)).token!;
  admin = (await login(records.demo!.admin.email, records.demo!.admin.password)).token!;
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
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

async function login(email: string, password: string): Promise<{ status: number; token?: string }> {
  const { status, body } = await call(undefined, "POST", "/api/auth/login", { email, password });
  return { status, ...(typeof body.token === "string" ? { token: body.token } : {}) };
}

describe("a login racing the removal of its staff member", () => {
  it("gives no token that outlives the removal", async () => {
    const businessId = records.demo!.businessId;
    const email = `slow-${randomUUID()}@example.test`;
    // A hash that takes a while to check: the removal lands between the login's read and its token.
    const slowHash = await hashPassword("slow password", { N: 16384, r: 8, p: 24 });
    const [staff] = await records.sql<{ id: string }[]>`
      insert into users (id, email, password_hash, role, business_id)
      values (gen_random_uuid(), ${email}, ${slowHash}, 'staff', ${businessId}) returning id`;
    const loggingIn = login(email, "slow password");
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect((await call(owner, "DELETE", `/api/businesses/${businessId}/users/${staff!.id}`)).status).toBe(200);
    const { status, token } = await loggingIn;
    // Either the login saw the removal, or its token is refused: never a working login of a removed user.
    if (status === 200) expect((await call(token, "GET", "/api/businesses")).status).toBe(401);
    else expect(status).toBe(401);
  });
});

describe("what the database cannot take", () => {
  it("answers a NUL in a login with 400, not 500", async () => {
    expect((await call(undefined, "POST", "/api/auth/login", { email: "a\u0000b@x.test", password: "x" })).status).toBe(
      400,
    );
    expect(
      (await call(undefined, "POST", "/api/auth/login", '{"email":"a\\u0000b@x.test","password":"x"}')).status,
    ).toBe(400);
  });

  it("reads a fractional limit as a whole one", async () => {
    expect((await call(owner, "GET", "/api/stores/demo/sessions?limit=1.5")).status).toBe(200);
  });

  it("answers an admin's staff member for a business that does not exist with 404", async () => {
    const created = await call(admin, "POST", `/api/businesses/${randomUUID()}/users`, {
      email: `nobody-${randomUUID()}@example.test`,
      password: "long enough password",
    });
    expect(created.status).toBe(404);
  });
});

describe("a conversation its customer deleted", () => {
  it("shows the business nothing a node's queue wrote after the deletion", async () => {
    const c = new Conversation("demo");
    const { dataCode } = await records.beginSession({
      sessionId: c.sessionId,
      storeCode: "demo",
      consent: { given: true, version: "v1" },
      deviceId: randomUUID(),
    });
    records.write(c.started());
    records.write(c.ended(70));
    await records.flush();
    const deleted = await fetch(`${http.url}/api/customer/sessions/${c.sessionId}`, {
      method: "DELETE",
      headers: { "x-parley-data-code": dataCode },
    });
    expect(deleted.status).toBe(200);
    // Then the words and the final score of a node that held the conversation through an outage.
    for (const [i, line] of uniqueFeedback(977).entries()) records.write(c.segment(i + 1, line));
    await records.sql`insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine)
      values (${c.sessionId}, 88, 0.5, 0.5, 0.5, 0.9, '{service}', 'late words', 'builtin')`;
    await records.flush();
    const feedback = await call(owner, "GET", `/api/feedback/${c.sessionId}`);
    expect(feedback.status).toBe(200);
    expect(feedback.body).toMatchObject({ transcript: [], finalScore: null });
    const listed = await call(owner, "GET", "/api/stores/demo/sessions?limit=500");
    const row = (listed.body.sessions as { id: string; score: number | null }[]).find((s) => s.id === c.sessionId);
    expect(row?.score ?? null).toBeNull();
  });
});

describe("the reward the app asks for again and again after a conversation", () => {
  async function conversation(on: Records, seed: number, ended: boolean) {
    const c = new Conversation("demo");
    const { dataCode } = await on.beginSession({
      sessionId: c.sessionId,
      storeCode: "demo",
      consent: { given: true, version: "v1" },
      deviceId: randomUUID(),
      ip: `198.51.100.${seed % 250}`,
    });
    on.write(c.started());
    for (const [i, line] of uniqueFeedback(seed).entries()) on.write(c.segment(i + 1, line));
    if (ended) on.write(c.ended(70));
    await on.flush();
    return { c, dataCode };
  }
  const ask = (base: string, path: string, code?: string) =>
    fetch(`${base}/api/customer/sessions/${path}`, { headers: code ? { "x-parley-data-code": code } : {} });
  const accesses = async () =>
    (await records.sql`select count(*)::int as n from audit_log where action = 'customer.access'`)[0]!.n as number;

  it("is null until decided, then the reward as the data view shows it, with no audit row; the data view audits each read", async () => {
    const { c, dataCode } = await conversation(records, 1301, false);
    const reward = (code = dataCode) => ask(http.url, `${c.sessionId}/reward`, code);

    // Its end not recorded yet: no reward decided.
    const before = await reward();
    expect(before.status).toBe(200);
    expect(before.headers.get("cache-control")).toBe("no-store");
    // No Stripe on this deployment: nothing can be claimed here, which the app is told.
    expect(await before.json()).toEqual({ reward: null, payouts: false });

    records.write(c.ended(70));
    await records.flush();
    const after = await reward(dataCode.toLowerCase().replace(/-/g, " ")); // typed as the data view takes it
    expect(after.status).toBe(200);
    const decided = (await after.json()) as { reward: Record<string, unknown> };
    expect(Object.keys(decided).sort()).toEqual(["payouts", "reward"]);
    expect(decided.reward).toMatchObject({ amountMinor: 1000, currency: "SEK", status: "claimable" });
    expect(Object.keys(decided.reward).sort()).toEqual([
      "amountMinor",
      "currency",
      "id",
      "payoutFailed",
      "reason",
      "status",
    ]);

    // Asked again and again (the app's polling): not one audit row.
    const audited = await accesses();
    for (let i = 0; i < 5; i++) expect((await reward()).status).toBe(200);
    expect(await accesses()).toBe(audited);
    // The data view is the customer opening their data: a row per read, and the same reward.
    const view = await ask(http.url, c.sessionId, dataCode);
    expect(view.status).toBe(200);
    expect(((await view.json()) as { reward: unknown }).reward).toEqual(decided.reward);
    expect((await ask(http.url, c.sessionId, dataCode)).status).toBe(200);
    expect(await accesses()).toBe(audited + 2);
    const [mine] = await records.sql`
      select count(*)::int as n from audit_log where action = 'customer.access' and target = ${`session:${c.sessionId}`}`;
    expect(mine!.n).toBe(2);
  });

  it("refuses what the data view refuses, alike: no code, another session's code, an unknown or malformed id, a deleted session", async () => {
    const mine = await conversation(records, 1302, true);
    const theirs = await conversation(records, 1303, true);
    const audited = await accesses();
    for (const [sessionId, code] of [
      [mine.c.sessionId, undefined],
      [mine.c.sessionId, theirs.dataCode],
      [theirs.c.sessionId, mine.dataCode],
      [randomUUID(), mine.dataCode],
      ["not-a-session", mine.dataCode],
    ] as const) {
      const [reward, view] = await Promise.all([
        ask(http.url, `${sessionId}/reward`, code),
        ask(http.url, sessionId, code),
      ]);
      expect(view.status).toBe(401);
      expect(reward.status).toBe(view.status);
      expect(await reward.json()).toEqual(await view.json());
    }
    expect(await accesses()).toBe(audited);

    // Deleted by its customer (forfeiting the reward): the reward row is kept (bookkeeping), the
    // data code went with the data.
    const del = await fetch(`${http.url}/api/customer/sessions/${mine.c.sessionId}?forfeitReward=true`, {
      method: "DELETE",
      headers: { "x-parley-data-code": mine.dataCode },
    });
    expect(del.status).toBe(200);
    const [kept] = await records.sql`select count(*)::int as n from rewards where session_id = ${mine.c.sessionId}`;
    expect(kept!.n).toBe(1);
    expect((await ask(http.url, `${mine.c.sessionId}/reward`, mine.dataCode)).status).toBe(401);
    expect((await ask(http.url, mine.c.sessionId, mine.dataCode)).status).toBe(401);
    // The other session's customer still reads theirs.
    expect((await ask(http.url, `${theirs.c.sessionId}/reward`, theirs.dataCode)).status).toBe(200);
  });

  it("limits guessing as the data view does, in the same count", async () => {
    const limited = await openRecords(await pg.createDatabase(), { loginRateLimit: { max: 5, windowMs: 60_000 } });
    const served = await serveRoutes(limited.routes);
    try {
      const mine = await conversation(limited, 1304, true);
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await ask(served.url, mine.c.sessionId, `WRONG-CODE-${i}`)).status);
      for (let i = 3; i < 7; i++)
        statuses.push((await ask(served.url, `${mine.c.sessionId}/reward`, `WRONG-CODE-${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      const locked = await ask(served.url, `${mine.c.sessionId}/reward`, mine.dataCode);
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
      // Another customer behind the same address still reads theirs, as often as the app asks.
      const theirs = await conversation(limited, 1305, true);
      for (let i = 0; i < 10; i++)
        expect((await ask(served.url, `${theirs.c.sessionId}/reward`, theirs.dataCode)).status).toBe(200);
    } finally {
      await served.close();
      await limited.close();
    }
  });
});

// Last: the burst spends this address's login allowance.
describe("logins sent at once", () => {
  it("are limited as if sent one by one: a burst of wrong passwords cannot pass the check together", async () => {
    const answers = await Promise.all(
      Array.from({ length: 3 * LOGIN_MAX }, () => login("burst@example.test", "not the password")),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(LOGIN_MAX);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2 * LOGIN_MAX);
  });
});
