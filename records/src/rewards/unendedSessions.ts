// Sessions no node will end: their node died (killed, its machine lost) and
// the customer did not join again elsewhere, so no ConversationEnded ever
// reaches the writer. Left alone they stayed "open" until retention: out of
// the wall's history, with no reward decision. Once a session can no longer
// be going (created longer ago than the session live limit: token, longest
// conversation and rejoin grace) and a margin for a writer's backlog after a
// database outage has passed, the sweep ends it with END_REASON NODE_LOST at
// its last heard moment. It has no final score (the end carried it), so the
// reward decision that follows (the finalizer's recovery) is "no_score".
// No sweep ends sessions while the database was away lately (Records'
// WRITER_DRAIN_MS): the ends may sit in the writers' queues. Should a real end
// still come later (a node cut off alone), it replaces NODE_LOST in the record.
import type { Sql } from "postgres";

/** A writer's queue may hold a session's end through a database outage: this long past the live limit, none is coming. */
export const UNENDED_MARGIN_MS = 60 * 60_000;
/**
 * After the database was away, how long the sweep leaves unended sessions alone: every node's
 * writer drains its backlog (ends included) well within this once Postgres is back.
 */
export const WRITER_DRAIN_MS = 10 * 60_000;
/** Sessions ended per sweep, at most. */
const BATCH = 500;

/** Ends the sessions no node will end (see above); returns their ids. */
export async function endUnendedSessions(sql: Sql, now: number, liveLimitMs: number): Promise<string[]> {
  const cutoff = new Date(now - liveLimitMs - UNENDED_MARGIN_MS);
  const rows = await sql<{ id: string }[]>`
    update sessions s set status = 'ended', end_reason = 'NODE_LOST',
      ended_at = greatest(
        coalesce(s.started_at, s.created_at),
        (select max(t.recorded_at) from transcript_segments t where t.session_id = s.id),
        (select max(u.scored_at) from score_updates u where u.session_id = s.id))
    where s.id in (
      select id from sessions
      where status = 'open' and created_at < ${cutoff} and deleted_by_customer_at is null
      order by created_at limit ${BATCH})
    returning s.id`;
  return rows.map((r) => r.id);
}
