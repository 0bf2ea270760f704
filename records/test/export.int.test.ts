// The business routes over HTTP (node:http adapter) at their edges: the CSV
// export read in pages (byte for byte as before for a small business, every
// session once and in order across pages, streamed whole however large, and
// audited), its from/to dates (checked against what Postgres can store, a date
// alone read as midnight in the business's time zone), and an admin naming a
// business that does not exist.
import { randomUUID } from "node:crypto";
import nodeHttp from "node:http";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { issueUserToken, type Records } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { openRecords, SECRET, startCluster } from "./helpers.ts";

let pg: PostgresCluster;
let records: Records;
let http: { url: string; close(): Promise<void> };
let admin: string;

beforeAll(async () => {
  pg = await startCluster();
  records = await openRecords(await pg.createDatabase());
  http = await serveRoutes(records.routes);
  admin = token("admin", null);
});
afterAll(async () => {
  await http?.close();
  await records?.close();
  await pg?.destroy();
});

function token(role: "owner" | "admin", bid: string | null): string {
  const now = Date.now();
  return issueUserToken(SECRET, { sub: randomUUID(), role, bid, exp: Math.floor(now / 1000) + 3600, iat: now / 1000 });
}

/** A business of its own per test, with one store and its owner's token. */
async function newBusiness(timeZone = "Europe/Stockholm") {
  const id = randomUUID();
  const store = `s-${id.slice(0, 8)}`;
  await records.sql`insert into businesses (id, name, time_zone) values (${id}, 'Export test', ${timeZone})`;
  const [st] = await records.sql<{ id: string }[]>`
    insert into stores (id, business_id, code, name, reward_policy)
    select gen_random_uuid(), ${id}, ${store}, 'Store', reward_policy from stores where code = 'demo' returning id`;
  return { id, store, storeId: st!.id, owner: token("owner", id) };
}
type Business = Awaited<ReturnType<typeof newBusiness>>;

async function addSession(b: Business, createdAt: string, id: string = randomUUID()): Promise<string> {
  await records.sql`insert into sessions (id, store_id, business_id, status, created_at)
                    values (${id}, ${b.storeId}, ${b.id}, 'ended', ${createdAt}::timestamptz)`;
  return id;
}

/** 9,000 conversations of ~4 KB of transcript each, one a minute from 2024-03-01 12:01Z: ~37 MB of CSV. */
async function addLongHistory(b: Business): Promise<void> {
  await records.sql`insert into sessions (id, store_id, business_id, status, created_at)
    select gen_random_uuid(), ${b.storeId}, ${b.id}, 'ended', '2024-03-01T12:00:00Z'::timestamptz + g * interval '1 minute'
    from generate_series(1, 9000) g`;
  await records.sql`insert into transcript_segments (session_id, segment_id, seq, text, words, start_ms, end_ms, speech_final)
    select id, 1, 1, repeat('the queue was long ', 210), '[]', 0, 4000, true from sessions where business_id = ${b.id}`;
}

const exportCsv = (b: Business, query = "") =>
  fetch(`${http.url}/api/businesses/${b.id}/feedback.csv${query}`, { headers: { authorization: `Bearer ${b.owner}` } });

/** The session ids of an export, in its order. */
async function exportedIds(b: Business, query = ""): Promise<string[]> {
  const res = await exportCsv(b, query);
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return text
    .split("\r\n")
    .slice(1, -1)
    .map((line) => line.split(",")[0]!);
}

const HEADER =
  "session_id,store_code,started_at,ended_at,end_reason,score,specificity,actionability,sentiment,relevance," +
  "topics,summary,transcript,reward_minor,currency,reward_status,flags\r\n";

describe("feedback.csv", () => {
  it("exports a small business byte for byte: quoting, neutralised formulas, empty cells, CRLF", async () => {
    const b = await newBusiness();
    const full = "00000000-0000-4000-8000-000000000001";
    const bare = "00000000-0000-4000-8000-000000000002";
    await addSession(b, "2024-05-02T08:00:00.123456Z", full);
    await addSession(b, "2024-05-02T09:00:00Z", bare);
    await records.sql`update sessions set started_at = '2024-05-02T08:00:01.5Z', ended_at = '2024-05-02T08:02:03.25Z',
                      end_reason = 'customer' where id = ${full}`;
    await records.sql`insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine)
                      values (${full}, 81, 0.5, 0.25, -0.5, 1, ${["service", "queue, bakery"]}, 'He said "hi"', 'builtin')`;
    await records.sql`insert into transcript_segments (session_id, segment_id, seq, text, words, start_ms, end_ms, speech_final) values
      (${full}, 2, 2, ${"line\nbreak"}, '[]', 5000, 9000, true),
      (${full}, 1, 1, '+46 is my number, call me', '[]', 0, 4000, true)`;
    await records.sql`insert into rewards (id, session_id, business_id, store_id, amount_minor, currency, status, reason, created_at)
                      values (gen_random_uuid(), ${full}, ${b.id}, ${b.storeId}, 2000, 'SEK', 'claimable', 'tier', now())`;
    await records.sql`insert into fraud_flags (session_id, rule, severity, detail) values
      (${full}, 'velocity', 'quality', '{}'), (${full}, 'device', 'fraud', '{}')`;

    const res = await exportCsv(b);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(res.headers.get("content-disposition")).toBe(`attachment; filename="feedback-${b.id}.csv"`);
    expect(await res.text()).toBe(
      HEADER +
        `${full},${b.store},2024-05-02T08:00:01.500Z,2024-05-02T08:02:03.250Z,customer,81,0.5,0.25,-0.5,1,` +
        `"service;queue, bakery","He said ""hi""","'+46 is my number, call me line\nbreak",2000,SEK,claimable,device;velocity\r\n` +
        `${bare},${b.store},,,,,,,,,,,,,,,\r\n`,
    );
  });

  it("exports every session once, in (created_at, id) order, across pages that split equal timestamps", async () => {
    const b = await newBusiness();
    // 1,203 sessions, three to each microsecond: pages of 500 end inside a run of equal created_at.
    await records.sql`insert into sessions (id, store_id, business_id, status, created_at)
      select gen_random_uuid(), ${b.storeId}, ${b.id}, 'ended',
             '2024-06-01T00:00:00Z'::timestamptz + (g / 3) * interval '1 microsecond'
      from generate_series(0, 1202) g`;
    const expected = await records.sql<{ id: string }[]>`
      select id from sessions where business_id = ${b.id} order by created_at, id`;
    expect(await exportedIds(b)).toEqual(expected.map((r) => r.id));
  });

  it("streams an export of any size whole (past the 32 MB it once refused), audits it, and serves a shorter period", async () => {
    const b = await newBusiness();
    await addLongHistory(b);
    const expected = await records.sql<{ id: string }[]>`
      select id from sessions where business_id = ${b.id} order by created_at, id`;
    const res = await exportCsv(b);
    const body = await res.text();
    expect(res.status, body.slice(0, 200)).toBe(200);
    expect(res.headers.get("transfer-encoding")).toBe("chunked");
    expect(body.length).toBeGreaterThan(32 * 1024 * 1024);
    const lines = body.split("\r\n");
    expect(lines[0]).toBe(HEADER.slice(0, -2));
    expect(lines.at(-1)).toBe("");
    expect(lines.slice(1, -1).map((line) => line.split(",")[0])).toEqual(expected.map((r) => r.id));
    // Audited once it ended, with what it held.
    expect(
      await records.sql`select detail from audit_log where business_id = ${b.id} and action = 'feedback.export'`,
    ).toEqual([{ detail: { rows: 9000 } }]);
    // One day of it (Stockholm, UTC+1 in early March): 1,440 conversations.
    expect(await exportedIds(b, "?from=2024-03-02&to=2024-03-03")).toHaveLength(1440);
  }, 60_000);

  it("reads no further page for a client that stops reading, none once it aborts, and audits it as cut short", async () => {
    const b = await newBusiness();
    // Eighteen pages of ~2 MB.
    await addLongHistory(b);
    let pages = 0; // the export's page queries, as feedbackCsv.int.test.ts counts them
    const options = records.sql.options;
    options.debug = (_connection, query) => {
      if (query.includes("as page_key")) pages++;
    };
    onTestFinished(() => {
      options.debug = false;
    });
    const settled = async () => {
      for (let seen = -1; seen !== pages; ) {
        seen = pages;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      return pages;
    };

    const request = nodeHttp.get(`${http.url}/api/businesses/${b.id}/feedback.csv`, {
      headers: { authorization: `Bearer ${b.owner}` },
    });
    const res = await new Promise<nodeHttp.IncomingMessage>((resolve) => request.on("response", resolve));
    expect(res.statusCode).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    await new Promise((resolve) => res.once("data", resolve));
    res.pause(); // and no more: the adapter waits for 'drain'
    const held = await settled();
    expect(held).toBeLessThan(18 / 2);
    request.destroy();
    await expect
      .poll(() => records.sql`select detail from audit_log where business_id = ${b.id} and action = 'feedback.export'`)
      .toEqual([{ detail: { rows: expect.any(Number), complete: false } }]);
    expect(await settled()).toBe(held);
  }, 60_000);

  it("refuses from/to that are no date Postgres can store with 400, naming the parameter", async () => {
    const b = await newBusiness();
    for (const [query, name] of [
      ["?from=0000-01-01", "from"],
      ["?to=99999", "to"],
      ["?to=10000-01-01", "to"],
      ["?from=2024-02-30", "from"],
      ["?from=2023-02-29", "from"],
      ["?from=2024-05-01T24:00:00Z", "from"],
      ["?to=2024-05-01T08:00:00%2B16:00", "to"],
      ["?from=yesterday", "from"],
    ] as const) {
      const res = await exportCsv(b, query);
      const body = (await res.json()) as { error: string };
      expect(res.status, query).toBe(400);
      expect(body.error, query).toMatch(new RegExp(`^${name} must be a date from 0001-01-01 to 9999-12-31`));
    }
    for (const query of ["?from=0001-01-01&to=9999-12-31", "?from=2024-02-29", "?to=9999-12-31T23:59:59.999999-12:00"])
      expect((await exportCsv(b, query)).status, query).toBe(200);
  });

  it("reads a date without a time as midnight in the business's time zone; an offset or Z as that instant", async () => {
    // Whatever the node's own zone is.
    const nodeZone = process.env.TZ;
    process.env.TZ = "Asia/Tokyo";
    onTestFinished(() => {
      if (nodeZone === undefined) delete process.env.TZ;
      else process.env.TZ = nodeZone;
    });
    const b = await newBusiness("Europe/Stockholm");
    // Stockholm is UTC+2 in May and June.
    const aprilLate = await addSession(b, "2024-04-30T21:30:00Z"); // 23:30 on 30 April there
    const mayFirst = await addSession(b, "2024-04-30T22:30:00Z"); // 00:30 on 1 May
    const mayLast = await addSession(b, "2024-05-31T21:30:00Z"); // 23:30 on 31 May
    await addSession(b, "2024-05-31T22:30:00Z"); // 00:30 on 1 June
    expect(await exportedIds(b, "?from=2024-05-01&to=2024-06-01")).toEqual([mayFirst, mayLast]);
    // A time without an offset is the business's clock too.
    expect(await exportedIds(b, "?from=2024-04-30T23:00&to=2024-05-01T00:00:00")).toEqual([aprilLate]);
    expect(await exportedIds(b, "?from=2024-04-30T21:00:00Z&to=2024-04-30T22:00:00Z")).toEqual([aprilLate]);
    // A '+' not encoded arrives as a space: still the offset.
    expect(await exportedIds(b, "?from=2024-05-01T00:00:00+02:00&to=2024-05-01T01:00+02")).toEqual([mayFirst]);
    expect(await exportedIds(b, "?to=2024-05-01T00:00:00%2B02:00")).toEqual([aprilLate]);
  });
});

describe("an admin naming a business that does not exist", () => {
  const call = (method: string, path: string, body: unknown) =>
    fetch(http.url + path, {
      method,
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("gets 404 for a new store, and no store is made", async () => {
    const res = await call("POST", `/api/businesses/${randomUUID()}/stores`, { code: "nowhere-1", name: "Nowhere" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found" });
    expect(await records.sql`select 1 from stores where code = 'nowhere-1'`).toHaveLength(0);
    const b = await newBusiness();
    expect((await call("POST", `/api/businesses/${b.id}/stores`, { code: "somewhere-1", name: "Here" })).status).toBe(
      201,
    );
  });

  it("gets 404 for a budget, and nothing is audited", async () => {
    const missing = randomUUID();
    const res = await call("PUT", `/api/businesses/${missing}/budget`, { dailyBudgetMinor: 500 });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "not found" });
    expect(await records.sql`select 1 from audit_log where business_id = ${missing}`).toHaveLength(0);
    const b = await newBusiness();
    expect((await call("PUT", `/api/businesses/${b.id}/budget`, { dailyBudgetMinor: 500 })).status).toBe(200);
    const [row] = await records.sql`select daily_budget_minor from businesses where id = ${b.id}`;
    expect(row!.daily_budget_minor).toBe(500);
  });
});
