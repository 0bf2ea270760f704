// The business's feedback as CSV (GET /api/businesses/:id/feedback.csv), read
// in pages. A business with years of conversations must not be loaded,
// transcripts and all, by one query into one string on the node that carries
// live audio: each page is a short query of its own on the keyset
// (created_at, id) (the export's order; sessions_business_created finds a
// page's start), so the event loop turns between pages and the connection is
// free between them (the embedded database has only one; a cursor would hold
// it for the whole export). Pages are separate statements, not one snapshot:
// a session written meanwhile may appear in a later page, never twice.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Fragment, Sql } from "postgres";
import { contentKept } from "./access.ts";

/** Sessions per page: about 0.5 MB of CSV with two-minute transcripts. */
export const PAGE_ROWS = 500;

const HEADER = [
  "session_id",
  "store_code",
  "started_at",
  "ended_at",
  "end_reason",
  "score",
  "specificity",
  "actionability",
  "sentiment",
  "relevance",
  "topics",
  "summary",
  "transcript",
  "reward_minor",
  "currency",
  "reward_status",
  "flags",
];

/**
 * A from/to bound as the caller wrote it: an instant (with Z or an offset), or a wall-clock time
 * (a date alone: its midnight) read in the business's time zone, so a Stockholm business's May
 * is May as its clock showed it. Kept as text for Postgres to read: the years 0001–9999 that
 * pass here all fit its timestamps, where a JS Date of year 0 or 10000 does not serialise.
 */
export type ExportBound = { instant: string } | { wallClock: string } | { date: Date };

// YYYY-MM-DD, optionally THH:MM[:SS[.fraction]] (T or a space), optionally Z or ±HH[[:]MM]. A '+' in a
// query string arrives as a space when the caller did not encode it: " 02:00" is read as "+02:00".
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|([+\- ])(\d{2})(?::?(\d{2}))?)?)?$/i;

/** Reads a from/to query value; undefined when absent. Throws INVALID_ARGUMENT (400) otherwise. */
export function parseExportBound(name: string, value: string | null): ExportBound | undefined {
  if (!value) return undefined;
  const m = ISO_DATE.exec(value);
  const [, y, mo, d, h = "00", mi = "00", s = "00", fraction = "", zone, sign, zh = "00", zm = "00"] = m ?? [];
  const year = Number(y);
  const month = Number(mo);
  const valid =
    m !== null &&
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    Number(d) >= 1 &&
    Number(d) <= daysIn(year, month) &&
    Number(h) <= 23 &&
    Number(mi) <= 59 &&
    Number(s) <= 59 &&
    Number(zh) <= 15 &&
    Number(zm) <= 59;
  if (!valid)
    throw new ParleyError(
      ErrorCode.INVALID_ARGUMENT,
      `${name} must be a date from 0001-01-01 to 9999-12-31 in ISO 8601: 2024-05-01 (midnight in the business's time zone) or 2024-05-01T08:00:00Z; got ${JSON.stringify(value.slice(0, 40))}`,
    );
  const wall = `${y}-${mo}-${d}T${h}:${mi}:${s}${fraction}`;
  if (zone === undefined) return { wallClock: wall };
  return { instant: sign === undefined ? `${wall}Z` : `${wall}${sign === " " ? "+" : sign}${zh}:${zm}` };
}

function daysIn(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export interface FeedbackCsvQuery {
  businessId: string;
  /** The caller's stores, on `stores st` (inAllowedStores). */
  stores: Fragment;
  from: ExportBound | undefined;
  to: ExportBound;
}

/** One page of the export: its CSV lines (each ending CRLF) and how many sessions they are. */
export interface CsvPage {
  csv: Buffer;
  rows: number;
}

/**
 * The export's header, then one chunk per page, oldest session first. Stopping early (a `break`
 * out of `for await`, or return()) runs no further query.
 */
export async function* feedbackCsvPages(
  sql: Sql,
  query: FeedbackCsvQuery,
  pageRows = PAGE_ROWS,
): AsyncGenerator<CsvPage, void, undefined> {
  yield { csv: Buffer.from(`${HEADER.join(",")}\r\n`), rows: 0 };
  // Text parameters cast in SQL: a parameter Postgres types as a timestamp, postgres.js sends through
  // new Date(x).toISOString(), which keeps milliseconds only and cannot write the year 10000.
  const bound = (b: ExportBound) =>
    "date" in b
      ? sql`${b.date}`
      : "instant" in b
        ? sql`${b.instant}::text::timestamptz`
        : sql`(${b.wallClock}::text::timestamp at time zone (select time_zone from businesses where id = ${query.businessId}))`;
  const from = query.from ? sql`s.created_at >= ${bound(query.from)}` : sql`true`;
  // The last row's created_at as Postgres prints it, with its microseconds: rows within one millisecond
  // are common (a batch written at once), and a key rounded to it would read some twice or never.
  let after: { at: string; id: string } | undefined;
  for (;;) {
    const rows = await sql`
      select s.id, s.created_at::text as page_key, st.code as store_code, s.started_at, s.ended_at, s.end_reason,
             f.score, f.specificity, f.actionability, f.sentiment, f.relevance, f.topics, f.summary,
             (select string_agg(text, ' ' order by start_ms, segment_id) from transcript_segments t
              where t.session_id = s.id and ${contentKept(sql)}) as transcript,
             r.amount_minor, r.currency, r.status as reward_status,
             (select string_agg(rule, ';' order by rule) from fraud_flags ff where ff.session_id = s.id) as flags
      from sessions s join stores st on st.id = s.store_id
      left join final_scores f on f.session_id = s.id and ${contentKept(sql)}
      left join rewards r on r.session_id = s.id
      where s.business_id = ${query.businessId} and ${query.stores}
        and ${from} and s.created_at < ${bound(query.to)}
        and ${
          after
            ? sql`s.created_at >= ${after.at}::text::timestamptz
                  and (s.created_at, s.id) > (${after.at}::text::timestamptz, ${after.id}::uuid)`
            : sql`true`
        }
      order by s.created_at, s.id
      limit ${pageRows}`;
    if (rows.length === 0) return;
    let csv = "";
    for (const r of rows)
      csv += `${[
        r.id,
        r.store_code,
        iso(r.started_at),
        iso(r.ended_at),
        r.end_reason,
        r.score,
        r.specificity,
        r.actionability,
        r.sentiment,
        r.relevance,
        (r.topics as string[] | null)?.join(";"),
        r.summary,
        r.transcript,
        r.amount_minor,
        r.currency,
        r.reward_status,
        r.flags,
      ]
        .map(csvCell)
        .join(",")}\r\n`;
    yield { csv: Buffer.from(csv), rows: rows.length };
    if (rows.length < pageRows) return;
    const last = rows[rows.length - 1]!;
    after = { at: last.page_key as string, id: last.id as string };
  }
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : "");

/** RFC 4180 quoting; cells that a spreadsheet would run as a formula get a leading apostrophe. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s) && typeof value === "string") s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
