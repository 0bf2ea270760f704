// Keyset pagination for the business lists (a store's sessions, a business's
// rewards and audit log), newest first: `?limit=` (1–500) rows, and `?before=`
// the `next` cursor of the page before, which names the last row's sort key.
// The cursor is opaque to clients (base64url of the list's kind and the key);
// a row written meanwhile never shifts a page, as an offset would.
//
// A time in a cursor is written by PostgreSQL to the microsecond, in UTC: a
// JavaScript Date keeps milliseconds, and two rows within one millisecond
// would be skipped or repeated across pages.
import { UUID } from "./access.ts";
import { json, type RecordsRequest, type RecordsResponse } from "./types.ts";

export const MAX_PAGE = 500;

/** `?limit=`, within 1–MAX_PAGE; anything not a number gets the list's default (as it always did). */
export function pageLimit(req: RecordsRequest, fallback: number): number {
  return Math.min(MAX_PAGE, Math.max(1, Math.trunc(Number(req.query.get("limit") ?? fallback)) || fallback));
}

/** to_char's format for a `timestamptz` in a cursor (of the column `at time zone 'UTC'`): to the microsecond. */
export const CURSOR_TIME_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"';

const TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const ID = /^\d{1,15}$/;

export type Cursor = { kind: "time"; at: string; id: string } | { kind: "id"; id: number };

export function encodeCursor(list: string, key: readonly (string | number)[]): string {
  return Buffer.from([list, ...key].join("|")).toString("base64url");
}

/**
 * `?before=` of the list `list`: undefined when absent, a 400 reply when it is not a cursor this
 * list gave (another list's, or edited).
 */
export function beforeCursor(
  req: RecordsRequest,
  list: string,
  kind: Cursor["kind"],
): Cursor | undefined | RecordsResponse {
  const value = req.query.get("before");
  if (value === null || value === "") return undefined;
  const wrong = json(400, { error: "before must be the `next` cursor of this list's previous page" });
  if (value.length > 200 || !/^[A-Za-z0-9_-]+$/.test(value)) return wrong;
  const [name, ...key] = Buffer.from(value, "base64url").toString("utf8").split("|");
  if (name !== list) return wrong;
  if (kind === "time") {
    const [at, id] = key;
    if (key.length !== 2 || !TIME.test(at!) || !UUID.test(id!)) return wrong;
    return { kind, at: at!, id: id! };
  }
  if (key.length !== 1 || !ID.test(key[0]!)) return wrong;
  return { kind, id: Number(key[0]) };
}

export const isReply = (value: unknown): value is RecordsResponse =>
  typeof value === "object" && value !== null && "status" in value;

/** The page's rows (at most `limit` of the `limit + 1` read) and the cursor of the next page, or null. */
export function page<Row>(
  rows: readonly Row[],
  limit: number,
  key: (last: Row) => readonly (string | number)[],
  list: string,
) {
  const more = rows.length > limit;
  const shown = more ? rows.slice(0, limit) : rows;
  return { rows: shown, next: more ? encodeCursor(list, key(shown[shown.length - 1]!)) : null };
}
