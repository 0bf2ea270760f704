// The business wall's alerts, kept (migration 0012): every node inserts each
// alert it raises, keyed by what it is about, and the first insert wins, so
// an alert is stored once however many nodes raised it. The wall reads the
// recent ones of a scope for its snapshots. A conversation's alerts go with
// its content (redactSessions), all of them after the data retention.
//
// Tenancy: a read takes the caller's scope (a business, or every business for
// admins; perhaps only some stores) and reads nothing outside it.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { PendingQuery, Row, Sql, TransactionSql } from "postgres";
import { UUID } from "../db/uuid.ts";
import type { WallQueryScope } from "./wall.ts";

export const ALERT_KINDS = ["LOW_SCORE", "NEGATIVE_SENTIMENT", "TOPIC_SPIKE", "FRAUD_FLAGGED"] as const;
export type AlertKindName = (typeof ALERT_KINDS)[number];

/** An alert as the wall raised it. */
export interface AlertRecord {
  /** The same on every node that raised it (the nodes derive it from `key`). */
  id: string;
  kind: AlertKindName;
  businessId: string;
  /** undefined: business-wide (a topic spike). */
  storeCode: string | undefined;
  /** undefined: about no one conversation (a topic spike). */
  sessionId: string | undefined;
  topic: string;
  score: number;
  sentiment: number;
  count: number;
  live: boolean;
  detail: string;
  atMs: number;
}

export interface AlertToSave extends AlertRecord {
  /** What the alert is about (kind and conversation; kind, business, topic and window): one row per key. */
  key: string;
  /**
   * Not stored when an alert of the same kind, business and topic was raised
   * within this many milliseconds before it (a topic spike's cool-off: nodes
   * whose windows straddle a window's edge, or a node restarted within it).
   */
  quietMs?: number;
}

/** "stored": this insert kept it; "duplicate": another node (or an earlier raise) already had. */
export type AlertSaved = "stored" | "duplicate";

interface AlertRow {
  id: string;
  kind: AlertKindName;
  business_id: string;
  store_code: string | null;
  session_id: string | null;
  topic: string;
  score: number;
  sentiment: number;
  count: number;
  live: boolean;
  detail: string;
  raised_at: Date;
}

const recordOf = (r: AlertRow): AlertRecord => ({
  id: r.id,
  kind: r.kind,
  businessId: r.business_id,
  storeCode: r.store_code ?? undefined,
  sessionId: r.session_id ?? undefined,
  topic: r.topic,
  score: r.score,
  sentiment: r.sentiment,
  count: r.count,
  live: r.live,
  detail: r.detail,
  atMs: r.raised_at.getTime(),
});

function invalid(message: string): never {
  throw new ParleyError(ErrorCode.INVALID_ARGUMENT, message);
}

/** Keeps an alert unless one of the same key (or, with quietMs, kind, business and topic) is kept already. */
export async function saveAlert(sql: Sql, a: AlertToSave): Promise<AlertSaved> {
  if (!a.key || !a.id) invalid("an alert needs its key and id");
  if (!(ALERT_KINDS as readonly string[]).includes(a.kind)) invalid(`unknown alert kind: ${a.kind}`);
  if (!UUID.test(a.businessId)) invalid(`alert of a business id that is no UUID: ${a.businessId}`);
  if (a.sessionId !== undefined && !UUID.test(a.sessionId))
    invalid(`alert of a session id that is no UUID: ${a.sessionId}`);
  const quietMs = a.quietMs;
  if (!quietMs) return (await insertAlert(sql, a, sql`true`)) ? "stored" : "duplicate";
  // Two nodes on either side of a window's edge save under two keys at the
  // same moment: each would see no other (neither committed yet) and both be
  // kept. One lock per kind, business and topic makes the second wait and see
  // the first.
  const stored = await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtext(${`wall_alerts:${a.kind}:${a.businessId}:${a.topic}`}))`;
    const quiet = tx`not exists (
        select 1 from wall_alerts q where q.kind = ${a.kind} and q.business_id = ${a.businessId}
          and q.topic = ${a.topic} and q.raised_at > ${new Date(a.atMs - quietMs)})`;
    return insertAlert(tx, a, quiet);
  });
  return stored ? "stored" : "duplicate";
}

/** Inserts the alert where `condition` holds and no alert of its key is kept; whether it did. */
async function insertAlert(
  sql: Sql | TransactionSql,
  a: AlertToSave,
  condition: PendingQuery<Row[]>,
): Promise<boolean> {
  const inserted = await sql`
    insert into wall_alerts (alert_key, id, kind, business_id, store_code, session_id, topic, score, sentiment,
                             count, live, detail, raised_at)
    select ${a.key}, ${a.id}, ${a.kind}, ${a.businessId}, ${a.storeCode ?? null}, ${a.sessionId ?? null}, ${a.topic},
           ${a.score}, ${a.sentiment}, ${a.count}, ${a.live}, ${a.detail}, ${new Date(a.atMs)}
    where ${condition}
    on conflict do nothing`;
  return inserted.count > 0;
}

/**
 * The newest alerts in scope raised at or after `sinceMs`, newest first. The
 * wall shows today's alerts: without a bound a quiet store's wall would show
 * last week's as if they were today's. Business-wide alerts (topic spikes)
 * belong to the whole business: a scope limited to some stores does not see
 * them. Alerts of a conversation its customer deleted are left out (they are
 * deleted with it; this covers one stored a moment after).
 */
export async function recentAlerts(
  sql: Sql,
  scope: WallQueryScope,
  sinceMs: number,
  limit: number,
): Promise<AlertRecord[]> {
  if (limit <= 0) return [];
  if (scope.businessId !== undefined && !UUID.test(scope.businessId)) return [];
  if (scope.storeCodes !== undefined && scope.storeCodes.length === 0) return [];
  const business = scope.businessId === undefined ? sql`true` : sql`a.business_id = ${scope.businessId}`;
  const stores = scope.storeCodes === undefined ? sql`true` : sql`a.store_code = any(${[...scope.storeCodes]}::text[])`;
  const rows = await sql<AlertRow[]>`
    select a.id, a.kind, a.business_id, a.store_code, a.session_id, a.topic, a.score, a.sentiment, a.count, a.live,
           a.detail, a.raised_at
    from wall_alerts a
    where ${business} and ${stores} and a.raised_at >= ${new Date(sinceMs)}
      and not exists (
        select 1 from sessions s where s.id = a.session_id and s.deleted_by_customer_at is not null)
    order by a.raised_at desc, a.id
    limit ${limit}`;
  return rows.map(recordOf);
}

/** The wall's alerts, bound to one database. */
export function alertQueries(sql: Sql) {
  return {
    save: (alert: AlertToSave) => saveAlert(sql, alert),
    recent: (scope: WallQueryScope, sinceMs: number, limit: number) => recentAlerts(sql, scope, sinceMs, limit),
  };
}

export type AlertQueries = ReturnType<typeof alertQueries>;
