// Sessions no node will end: their node died (killed, its machine lost) and
// the customer did not join again elsewhere, so no ConversationEnded ever
// reaches the writer. Left alone they stayed "open" until retention: out of
// the wall's history, with no reward decision. Once a session can no longer
// be going (created longer ago than the session live limit: token, longest
// conversation and rejoin grace) and a margin for a writer's backlog after a
// database outage has passed, the sweep ends it with END_REASON NODE_LOST at
// its last heard moment.
//
// Its final score came with the end, which never came; the score it had
// reached is in score_updates. The same statement stores the last of those
// (by seq) as its final_scores row, with no summary (none was made), so the
// reward decision that follows (the finalizer's recovery) goes through the
// policy, the budget and the fraud rules as for any session ended with that
// score, and the wall, its drill-down, tiles and trends, the CSV export and
// the customer's own data all show the score it was rewarded on. A row, not a
// fallback: a dozen queries read final_scores and each would have to repeat
// it. No column marks it: END_REASON NODE_LOST already says the conversation
// was lost, and only this sweep sets it. A session never scored stays
// without one: "no_score".
//
// The sweep is a guess that no end will come. No sweep makes it while the
// database was away lately (Records' WRITER_DRAIN_MS): the ends may sit in
// the writers' queues. Should a true end still come (a node cut off from
// Postgres alone), the writer takes it over NODE_LOST: its reason, time and
// final score replace the guess's; a reward already decided stays.
//
// Several nodes sweep at once: the status is checked again on the locked row
// (a second sweep skips what the first ended), and the end commits with its
// score, so no decision sees the one without the other.
import type { Sql, TransactionSql } from "postgres";

/** A writer's queue may hold a session's end through a database outage: this long past the live limit, none is coming. */
export const UNENDED_MARGIN_MS = 60 * 60_000;
/**
 * After the database was away, how long the sweep leaves unended sessions alone: every node's
 * writer drains its backlog (ends included) well within this once Postgres is back.
 */
export const WRITER_DRAIN_MS = 10 * 60_000;
/** Sessions ended per sweep, at most. */
const BATCH = 500;

/** Ends the sessions no node will end, with their last heard score (see above); returns their ids. */
export async function endUnendedSessions(
  sql: Sql | TransactionSql,
  now: number,
  liveLimitMs: number,
): Promise<string[]> {
  const cutoff = new Date(now - liveLimitMs - UNENDED_MARGIN_MS);
  const rows = await sql<{ id: string }[]>`
    with ended as (
      update sessions s set status = 'ended', end_reason = 'NODE_LOST',
        ended_at = greatest(
          coalesce(s.started_at, s.created_at),
          (select max(t.recorded_at) from transcript_segments t where t.session_id = s.id),
          (select max(u.scored_at) from score_updates u where u.session_id = s.id))
      where s.id in (
          select id from sessions
          where status = 'open' and created_at < ${cutoff} and deleted_by_customer_at is null
          order by created_at limit ${BATCH})
        and s.status = 'open' and s.deleted_by_customer_at is null
      returning s.id
    ), last_heard as (
      insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine)
      select distinct on (u.session_id)
             u.session_id, u.score, u.specificity, u.actionability, u.sentiment, u.relevance, u.topics, '', u.engine
      from score_updates u join ended e on e.id = u.session_id
      order by u.session_id, u.seq desc
      on conflict (session_id) do nothing
    )
    select id from ended`;
  return rows.map((r) => r.id);
}
