// The deployment guide's retention rules, applied by a scheduled job:
// voice-derived data (audio fingerprints; raw audio is never kept) after
// VOICE_DATA_RETENTION_HOURS, transcripts, scores, AI questions and the
// session's device/IP hashes, receipt and data code after DATA_RETENTION_DAYS.
// dead_letters hold whole envelopes (transcript text included) and have no
// foreign key to sessions: they go by their own age and with their session.
// What stays is what bookkeeping needs and holds nothing the customer said:
// the session's store and times, and its reward and payouts. Each run logs and
// audits how many rows of each kind it deleted (never their content).
import type { Logger } from "pino";
import type { Sql, TransactionSql } from "postgres";
import { retentionDeletedTotal } from "../metrics.ts";

export interface RetentionOptions {
  dataRetentionDays: number;
  voiceRetentionHours: number;
  /** How often the job runs; 0: only when runOnce() is called. */
  intervalMs: number;
  /** The fraud rules' velocity window: how long a deleted session's device and address hashes stay. */
  fraudWindowMs: number;
}

export type RetentionCounts = Record<
  | "audio_fingerprints"
  | "transcript_segments"
  | "score_updates"
  | "final_scores"
  | "ai_questions"
  | "transcript_signatures"
  | "dead_letters"
  | "sessions_redacted",
  number
>;

export class RetentionJob {
  readonly #sql: Sql;
  readonly #logger: Logger;
  readonly #options: RetentionOptions;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<RetentionCounts> | undefined;

  constructor(sql: Sql, logger: Logger, options: RetentionOptions, now: () => number = Date.now) {
    this.#sql = sql;
    this.#logger = logger;
    this.#options = options;
    this.#now = now;
  }

  /**
   * A pass now, then one every intervalMs. The first pass does not wait for
   * the interval: a node restarted more often than that would never delete.
   */
  start(): void {
    if (this.#options.intervalMs <= 0 || this.#timer) return;
    const pass = () => {
      this.runOnce().catch((error: unknown) => this.#logger.error({ err: error }, "retention run failed"));
    };
    this.#timer = setInterval(pass, this.#options.intervalMs);
    this.#timer.unref();
    pass();
  }

  /** No more passes; resolves when a pass under way has ended (before the database closes). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  /** One pass at the injected clock's now; concurrent calls share the pass. */
  runOnce(): Promise<RetentionCounts> {
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #run(): Promise<RetentionCounts> {
    const now = this.#now();
    const voiceCutoff = new Date(now - this.#options.voiceRetentionHours * 3_600_000);
    const dataCutoff = new Date(now - this.#options.dataRetentionDays * 86_400_000);
    const counts = await this.#sql.begin(async (tx) => {
      const voice = await tx`delete from audio_fingerprints where created_at < ${voiceCutoff}`;
      // Also those of sessions long gone or never created (an invalid session id).
      const letters = await tx`delete from dead_letters where at < ${dataCutoff}`;
      // The queries on sessions below each read a partial index (migration 0009) holding little
      // more than the rows they change, not every session ever recorded.
      const due = await tx<{ id: string }[]>`
        select id from sessions where created_at < ${dataCutoff} and redacted_at is null for update`;
      // Sessions redacted already that got content afterwards: the writer's records of the
      // conversation's end (final score and summary, the last score updates and questions, dead
      // letters) under way when the customer deleted their data.
      const late = await redactedWithContent(tx, new Date(now - LATE_CONTENT_WINDOW_MS));
      // What a customer's deletion kept for the fraud rules: the receipt's hash until the data
      // retention (those sessions are redacted already, so the redaction below does not see them)…
      await tx`update sessions set receipt_hash = null where created_at < ${dataCutoff} and receipt_hash is not null`;
      // …the device and address hashes for the velocity window.
      await tx`
        update sessions set device_hash = null, ip_hash = null
        where deleted_by_customer_at < ${new Date(now - this.#options.fraudWindowMs)}
          and (device_hash is not null or ip_hash is not null)`;
      const expired = await redactSessions(
        tx,
        due.map((r) => r.id),
        new Date(now),
      );
      // Their content again; what a customer's deletion kept for the fraud rules stays as long as it would.
      const again = await redactSessions(
        tx,
        late.map((r) => r.id),
        new Date(now),
        { keepFraudEvidence: true },
      );
      const content = sumCounts(expired, again);
      return {
        ...content,
        audio_fingerprints: voice.count + content.audio_fingerprints,
        dead_letters: letters.count + content.dead_letters,
      };
    });
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    for (const [kind, n] of Object.entries(counts)) if (n > 0) retentionDeletedTotal.inc({ kind }, n);
    if (total > 0)
      await this.#sql`
        insert into audit_log (at, actor, action, target, detail)
        values (${new Date(now)}, 'system', 'retention.deleted', 'sessions', ${this.#sql.json(counts)})`;
    this.#logger.info(
      { deleted: counts, voiceCutoff: voiceCutoff.toISOString(), dataCutoff: dataCutoff.toISOString() },
      "retention run",
    );
    return counts;
  }
}

/**
 * Tables keyed by a session's id (uuid) that hold what the customer said, or what was made of it:
 * with dead_letters, what redactSessions deletes.
 */
const SESSION_CONTENT_TABLES = [
  "audio_fingerprints",
  "transcript_segments",
  "score_updates",
  "final_scores",
  "ai_questions",
  "transcript_signatures",
] as const satisfies readonly (keyof RetentionCounts)[];

/**
 * How long after its redaction a session is checked for content written afterwards. Such content
 * comes from a node's write queue: records of a conversation's end queued when its customer deleted
 * it, written a moment later, or once Postgres is back after an outage (the queue waits in memory,
 * bounded by maxQueued). Three days is far beyond either, and keeps the hourly check to a few days'
 * redactions (index sessions_redacted, migration 0009) rather than every session ever redacted, a
 * set that only grows.
 */
const LATE_CONTENT_WINDOW_MS = 3 * 86_400_000;

/** Sessions redacted since `since` that hold content again: every table redactSessions deletes from. */
async function redactedWithContent(tx: TransactionSql, since: Date): Promise<{ id: string }[]> {
  const inContentTable = SESSION_CONTENT_TABLES.map(
    (table) => tx`exists (select 1 from ${tx(table)} c where c.session_id = s.id)`,
  ).reduce((either, next) => tx`${either} or ${next}`);
  // dead_letters.session_id is text as the envelope carried it: compared lower-case, uncorrelated
  // (one hashed lookup, not a scan of dead_letters per session).
  return tx<{ id: string }[]>`
    select s.id from sessions s where s.redacted_at >= ${since}
      and (${inContentTable} or s.id::text in (select lower(d.session_id) from dead_letters d))
    for update of s`;
}

/**
 * Deletes what the customer said and the session's identifying fields; keeps
 * the money rows. `keepFraudEvidence` (a customer's own deletion) keeps the
 * keyed hashes the fraud rules compare (device, address, receipt: no text of
 * theirs), so that deleting a conversation cannot clear the way for the same
 * purchase or device to earn again; the job below drops the device and
 * address hashes once the velocity window has passed, the receipt's with the
 * data retention.
 */
export async function redactSessions(
  tx: TransactionSql,
  ids: string[],
  now: Date,
  options: { keepFraudEvidence?: boolean } = {},
): Promise<RetentionCounts> {
  if (ids.length === 0)
    return {
      audio_fingerprints: 0,
      transcript_segments: 0,
      score_updates: 0,
      final_scores: 0,
      ai_questions: 0,
      transcript_signatures: 0,
      dead_letters: 0,
      sessions_redacted: 0,
    };
  // dead_letters.session_id is text as the envelope carried it (it may not be a UUID at all),
  // so compare it in the canonical lower-case form rather than casting it.
  const lowerIds = ids.map((id) => id.toLowerCase());
  const [a, t, s, f, q, sig, d, r] = await Promise.all([
    tx`delete from audio_fingerprints where session_id = any(${ids}::uuid[])`,
    tx`delete from transcript_segments where session_id = any(${ids}::uuid[])`,
    tx`delete from score_updates where session_id = any(${ids}::uuid[])`,
    tx`delete from final_scores where session_id = any(${ids}::uuid[])`,
    tx`delete from ai_questions where session_id = any(${ids}::uuid[])`,
    tx`delete from transcript_signatures where session_id = any(${ids}::uuid[])`,
    tx`delete from dead_letters where lower(session_id) = any(${lowerIds}::text[])`,
    options.keepFraudEvidence
      ? tx`update sessions set receipt_ref = null, data_code_hash = null, redacted_at = ${now}
           where id = any(${ids}::uuid[])`
      : tx`update sessions set device_hash = null, ip_hash = null, receipt_ref = null, receipt_hash = null,
           data_code_hash = null, redacted_at = ${now} where id = any(${ids}::uuid[])`,
  ]);
  return {
    audio_fingerprints: a.count,
    transcript_segments: t.count,
    score_updates: s.count,
    final_scores: f.count,
    ai_questions: q.count,
    transcript_signatures: sig.count,
    dead_letters: d.count,
    sessions_redacted: r.count,
  };
}

const sumCounts = (a: RetentionCounts, b: RetentionCounts): RetentionCounts =>
  Object.fromEntries(
    Object.entries(a).map(([kind, n]) => [kind, n + b[kind as keyof RetentionCounts]]),
  ) as RetentionCounts;
