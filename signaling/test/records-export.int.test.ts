// The business's CSV export through a real node's uWS edge: streamed in
// chunked encoding, byte for byte the export's pages, to a client that reads
// slowly as to one that reads at once; a client that stops reading holds the
// database reads back, one that aborts stops them (the stream is returned: its
// audit entry says it was cut short), and the node answers the next request.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { feedbackCsvPages } from "../../records/src/http/feedbackCsv.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { demoBusiness, ownerToken, startServer } from "./harness.ts";

let server: ParleyServer;
let owner: string;
/** The export's page queries the node ran (as feedbackCsv.int.test.ts counts them). */
let pageQueries = 0;

beforeAll(async () => {
  server = await startServer();
  owner = await ownerToken(server);
  server.records.sql.options.debug = (_connection, query) => {
    if (query.includes("as page_key")) pageQueries++;
  };
}, 60_000);
afterAll(async () => {
  await server?.close();
});

const exportPath = () => `/api/businesses/${demoBusiness(server)}/feedback.csv`;

/** `count` ended conversations of the demo store, `transcriptBytes` of transcript each, one a second from `from`. */
async function addConversations(count: number, from: string, transcriptBytes: number): Promise<void> {
  const sql = server.records.sql;
  const ids = await sql<{ id: string }[]>`
    insert into sessions (id, store_id, business_id, status, created_at)
    select gen_random_uuid(), st.id, st.business_id, 'ended', ${from}::timestamptz + g * interval '1 second'
    from stores st, generate_series(1, ${count}) g where st.code = 'demo' returning id`;
  await sql`
    insert into transcript_segments (session_id, segment_id, seq, text, words, start_ms, end_ms, speech_final)
    select id, 1, 1, repeat('the queue was long, ', ${Math.ceil(transcriptBytes / 20)}), '[]', 0, 4000, true
    from unnest(${ids.map((r) => r.id)}::uuid[]) id`;
}

/** The export as feedbackCsv.ts reads it, its pages joined. */
async function expectedExport(): Promise<Buffer> {
  const sql = server.records.sql;
  const query = { businessId: demoBusiness(server), stores: sql`true`, from: undefined, to: { date: tomorrow() } };
  const pages: Buffer[] = [];
  for await (const page of feedbackCsvPages(sql, query)) pages.push(page.csv);
  return Buffer.concat(pages);
}

const tomorrow = () => new Date(Date.now() + 86_400_000);

/** GET over node:http, for the raw headers and control of reading. */
function get(path: string, method = "GET"): { response: Promise<http.IncomingMessage>; request: http.ClientRequest } {
  const request = http.request(`${server.url}${path}`, { method, headers: { authorization: `Bearer ${owner}` } });
  const response = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.on("response", resolve).on("error", reject);
  });
  request.end();
  return { response, request };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the page count has not moved for `quietMs`; the count. */
async function settledPageQueries(quietMs = 1_000): Promise<number> {
  for (let seen = -1; seen !== pageQueries; ) {
    seen = pageQueries;
    await pause(quietMs);
  }
  return pageQueries;
}

describe("the feedback export through the node", () => {
  it("streams many pages in chunked encoding, byte for byte the pages, to a client that stops to read", async () => {
    // 3,000 conversations of ~2 KB: ~6 MB of CSV in six pages of ~1 MB, more than a socket takes at once.
    await addConversations(3_000, "2024-01-01T00:00:00Z", 2_000);
    const { response } = get(exportPath());
    const res = await response;
    expect(res.statusCode).toBe(200);
    expect(res.headers["transfer-encoding"]).toBe("chunked");
    expect(res.headers["content-length"]).toBeUndefined();
    expect(res.headers["content-type"]).toBe("text/csv; charset=utf-8");
    expect(res.headers["x-content-type-options"]).toBe("nosniff"); // the edge's headers, as on whole replies
    // Not read for a while: the node's writes meet backpressure and resume on onWritable.
    res.pause();
    await pause(300);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);

    const expected = await expectedExport();
    expect(expected.length).toBeGreaterThan(6_000_000);
    expect(body.length).toBe(expected.length);
    expect(body.equals(expected)).toBe(true);
  }, 60_000);

  it("reads no further page for a client that stops reading, none once it aborts, and answers the next request", async () => {
    // 10,000 conversations of ~4 KB more: ~40 MB more, twenty pages or more.
    await addConversations(10_000, "2024-02-01T00:00:00Z", 4_000);
    const sql = server.records.sql;
    const [all] = await sql<{ count: number }[]>`
      select count(*)::int as count from sessions where business_id = ${demoBusiness(server)}`;
    const pages = Math.ceil(all!.count / 500);
    pageQueries = 0;
    const { response, request } = get(exportPath());
    const res = await response;
    expect(res.statusCode).toBe(200);
    // A client that reads one chunk, then nothing: the node stops where the sockets' buffers are full.
    await new Promise((resolve) => res.once("data", resolve));
    res.pause();
    const held = await settledPageQueries();
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(pages / 2);

    request.destroy();
    // The stream was returned: the export's generator ended, audited as cut short.
    await expect
      .poll(
        async () =>
          await sql`select detail from audit_log where business_id = ${demoBusiness(server)}
                    and action = 'feedback.export' and detail->>'complete' = 'false'`,
      )
      .toHaveLength(1);
    expect(await settledPageQueries(500)).toBe(held);

    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    const day = await fetch(`${server.url}${exportPath()}?from=2024-02-01T00:00:00Z&to=2024-02-01T00:01:00Z`, {
      headers: { authorization: `Bearer ${owner}` },
    });
    expect(day.status).toBe(200);
    expect((await day.text()).split("\r\n")).toHaveLength(1 + 59 + 1); // the header, this test's first minute, ""
  }, 60_000);

  it("answers HEAD with the headers and no body, reading no page past the first", async () => {
    pageQueries = 0;
    const { response } = get(exportPath(), "HEAD");
    const res = await response;
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/csv; charset=utf-8");
    res.resume();
    await new Promise((resolve) => res.once("end", resolve));
    expect(await settledPageQueries(500)).toBe(1);
  });
});
