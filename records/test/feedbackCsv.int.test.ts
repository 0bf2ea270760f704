// The CSV export's pages (src/http/feedbackCsv.ts) against Postgres, counting
// the queries: one per page, none after the reader stops, so a streamed
// download that is aborted stops reading the database.
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, expect, it } from "vitest";
import { clientOptions } from "../src/db/connect.ts";
import { feedbackCsvPages, parseExportBound } from "../src/http/feedbackCsv.ts";
import type { Records } from "../src/index.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { openRecords, startCluster } from "./helpers.ts";

let pg: PostgresCluster;
let records: Records;
let sql: postgres.Sql;
const queries: string[] = [];

beforeAll(async () => {
  pg = await startCluster();
  const url = await pg.createDatabase();
  records = await openRecords(url);
  sql = postgres(url, { ...clientOptions, max: 1, debug: (_connection, query) => queries.push(query) });
});
afterAll(async () => {
  await sql?.end();
  await records?.close();
  await pg?.destroy();
});

it("reads one page per query, and nothing more once the reader stops", async () => {
  const businessId = records.demo!.businessId;
  await records.sql`insert into sessions (id, store_id, business_id, status, created_at)
    select gen_random_uuid(), st.id, ${businessId}, 'ended', '2024-06-01T00:00:00Z'::timestamptz + g * interval '1 second'
    from stores st, generate_series(1, 25) g where st.code = 'demo'`;
  const query = { businessId, stores: sql`true`, from: undefined, to: { date: new Date(Date.now() + 86_400_000) } };

  await sql`select 1`; // the connection's own first queries (postgres.js reads the array types)
  queries.length = 0;
  const pages: number[] = [];
  for await (const page of feedbackCsvPages(sql, query, 10)) pages.push(page.rows);
  expect(pages).toEqual([0, 10, 10, 5]); // the header, then the pages
  expect(queries).toHaveLength(3);

  queries.length = 0;
  for await (const page of feedbackCsvPages(sql, query, 10)) if (page.rows > 0) break;
  expect(queries).toHaveLength(1);
});

it("parses from/to: a date or time without an offset is the business's clock, one with it an instant", () => {
  expect(parseExportBound("from", null)).toBeUndefined();
  expect(parseExportBound("from", "2024-05-01")).toEqual({ wallClock: "2024-05-01T00:00:00" });
  expect(parseExportBound("from", "2024-05-01 08:30")).toEqual({ wallClock: "2024-05-01T08:30:00" });
  expect(parseExportBound("from", "2024-05-01T08:30:15.123456789z")).toEqual({
    instant: "2024-05-01T08:30:15.123456789Z",
  });
  expect(parseExportBound("to", "2024-05-01T08:30+0530")).toEqual({ instant: "2024-05-01T08:30:00+05:30" });
  expect(parseExportBound("to", "2024-05-01T08:30 02")).toEqual({ instant: "2024-05-01T08:30:00+02:00" });
  for (const bad of ["0000-12-31", "2024-13-01", "2024-04-31", "1900-02-29", "2024-05-01T08", "20240501", randomUUID()])
    expect(() => parseExportBound("from", bad), bad).toThrow(/^from must be a date/);
});
