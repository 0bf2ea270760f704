// The deployment guide's retention rules, applied by a scheduled job:
// voice-derived data (audio fingerprints; raw audio is never kept) after
// VOICE_DATA_RETENTION_HOURS, transcripts, scores, AI questions and the
// session's device/IP hashes, receipt and data code after DATA_RETENTION_DAYS.
// The wall's alerts go with their conversation's content, and every alert
// (a topic spike is about no one conversation) after DATA_RETENTION_DAYS too.
// dead_letters hold whole envelopes (transcript text included) and have no
// foreign key to sessions: they go by their own age and with their session.
// What stays is what bookkeeping needs and holds nothing the customer said:
// the session's store and times, and its reward and payouts. A run works in
// batches, each a short transaction of its own, and logs and audits once how
// many rows of each kind it deleted (never their content).
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
  /** The most rows (sessions, or rows deleted by age) one of the run's transactions changes; default 500. */
  batchSize?: number;
}

/**
 * A run works through what is due in transactions of this many rows, each committed on its own. The
 * first run after DATA_RETENTION_DAYS was lowered may redact hundreds of thousands of sessions: in
 * one transaction it would hold their row locks for the whole run (the record writer and the reward
 * sweep waiting on them) and lose all of its work to one failure near the end, run after run.
 */
const DEFAULT_BATCH_SIZE = 500;

export type RetentionCounts = Record<
  | "audio_fingerprints"
  | "transcript_segments"
  | "score_updates"
  | "final_scores"
  | "ai_questions"
  | "transcript_signatures"
  | "wall_alerts"
  | "dead_letters"
  | "sessions_redacted",
  number
>;

interface Cutoffs {
  now: Date;
  voice: Date;
  data: Date;
}

export class RetentionJob {
  readonly #sql: Sql;
  readonly #logger: Logger;
  readonly #options: RetentionOptions;
  readonly #batchSize: number;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: { counts: Promise<RetentionCounts>; stop: AbortController } | undefined;

  constructor(sql: Sql, logger: Logger, options: RetentionOptions, now: () => number = Date.now) {
    this.#sql = sql;
    this.#logger = logger;
    this.#options = options;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    if (!Number.isInteger(this.#batchSize) || this.#batchSize < 1)
      throw new RangeError(`retention batchSize must be a positive integer, not ${options.batchSize}`);
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

  /**
   * No more passes; a pass under way ends after its current batch (the next pass goes on from
   * there). Resolves when it has ended (before the database closes).
   */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#running?.stop.abort();
    await this.#running?.counts.catch(() => undefined);
  }

  /** One pass at the injected clock's now; concurrent calls share the pass. */
  runOnce(): Promise<RetentionCounts> {
    if (!this.#running) {
      const stop = new AbortController();
      const counts = this.#run(stop.signal).finally(() => {
        this.#running = undefined;
      });
      this.#running = { counts, stop };
    }
    return this.#running.counts;
  }

  async #run(stopped: AbortSignal): Promise<RetentionCounts> {
    const now = this.#now();
    const cutoffs: Cutoffs = {
      now: new Date(now),
      voice: new Date(now - this.#options.voiceRetentionHours * 3_600_000),
      data: new Date(now - this.#options.dataRetentionDays * 86_400_000),
    };
    const counts = noCounts();
    let ended: "failed" | "stopped" | undefined = "failed"; // until the passes return
    try {
      await this.#passes(cutoffs, counts, stopped);
      ended = stopped.aborted ? "stopped" : undefined;
    } finally {
      // What the batches before a failure committed stays deleted: it is counted and audited too.
      await this.#report(cutoffs, counts, ended);
    }
    return counts;
  }

  /**
   * Each pass in batches of at most batchSize rows, each batch a transaction of its own that adds
   * to `counts` once committed. Every batch takes its rows `for update skip locked`: the rows it
   * changes and no more, none another node's run holds (nodes running at once share the work).
   */
  async #passes(cutoffs: Cutoffs, counts: RetentionCounts, stopped: AbortSignal): Promise<void> {
    const size = this.#batchSize;
    const batches = (batch: () => Promise<number>) => inBatches(size, stopped, batch);
    await batches(async () => {
      const { count } = await this.#sql`
        delete from audio_fingerprints where session_id in (
          select session_id from audio_fingerprints where created_at < ${cutoffs.voice}
          limit ${size} for update skip locked)`;
      counts.audio_fingerprints += count;
      return count;
    });
    // Also those of sessions long gone or never created (an invalid session id).
    await batches(async () => {
      const { count } = await this.#sql`
        delete from dead_letters where id in (
          select id from dead_letters where at < ${cutoffs.data} limit ${size} for update skip locked)`;
      counts.dead_letters += count;
      return count;
    });
    // Alerts by their own age: also topic spikes (of no session) and those of sessions never stored.
    await batches(async () => {
      const { count } = await this.#sql`
        delete from wall_alerts where alert_key in (
          select alert_key from wall_alerts where raised_at < ${cutoffs.data} limit ${size} for update skip locked)`;
      counts.wall_alerts += count;
      return count;
    });
    // Sessions redacted already that got content afterwards: the writer's records of the
    // conversation's end (final score and summary, the last score updates and questions, dead
    // letters) under way when the customer deleted their data. Their content again; what a
    // customer's deletion kept for the fraud rules stays as long as it would.
    const lateSince = new Date(cutoffs.now.getTime() - LATE_CONTENT_WINDOW_MS);
    await batches(() =>
      this.#redact(counts, cutoffs.now, (tx) => redactedWithContent(tx, lateSince, size), { keepFraudEvidence: true }),
    );
    // The queries on sessions below each read a partial index (migration 0009) holding little
    // more than the rows they change, not every session ever recorded. Oldest first: a run that
    // failed or was stopped leaves the newest for the next.
    await batches(() =>
      this.#redact(
        counts,
        cutoffs.now,
        (tx) => tx<{ id: string }[]>`
          select id from sessions where created_at < ${cutoffs.data} and redacted_at is null
          order by created_at, id limit ${size} for update skip locked`,
      ),
    );
    // What a customer's deletion kept for the fraud rules: the receipt's hash until the data
    // retention (the redaction above cleared those of the sessions it redacted)…
    await batches(
      async () =>
        (
          await this.#sql`
            update sessions set receipt_hash = null where id in (
              select id from sessions where created_at < ${cutoffs.data} and receipt_hash is not null
              limit ${size} for update skip locked)`
        ).count,
    );
    // …the device and address hashes for the velocity window.
    const fraudCutoff = new Date(cutoffs.now.getTime() - this.#options.fraudWindowMs);
    await batches(
      async () =>
        (
          await this.#sql`
            update sessions set device_hash = null, ip_hash = null where id in (
              select id from sessions
              where deleted_by_customer_at < ${fraudCutoff} and (device_hash is not null or ip_hash is not null)
              limit ${size} for update skip locked)`
        ).count,
    );
  }

  /** One batch: locks the sessions `pick` selects and redacts them in one transaction; how many it picked. */
  async #redact(
    counts: RetentionCounts,
    now: Date,
    pick: (tx: TransactionSql) => Promise<readonly { id: string }[]>,
    options?: { keepFraudEvidence?: boolean },
  ): Promise<number> {
    const batch = await this.#sql.begin(async (tx) => {
      const ids = (await pick(tx)).map((r) => r.id);
      return { picked: ids.length, redacted: await redactSessions(tx, ids, now, options) };
    });
    addCounts(counts, batch.redacted);
    return batch.picked;
  }

  /** The run's totals, once: metrics, an audit row and a log line (counts, never content). */
  async #report(cutoffs: Cutoffs, counts: RetentionCounts, ended: "failed" | "stopped" | undefined): Promise<void> {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    for (const [kind, n] of Object.entries(counts)) if (n > 0) retentionDeletedTotal.inc({ kind }, n);
    if (total > 0)
      await this.#sql`
        insert into audit_log (at, actor, action, target, detail)
        values (${cutoffs.now}, 'system', 'retention.deleted', 'sessions', ${this.#sql.json(counts)})`;
    this.#logger.info(
      {
        deleted: counts,
        voiceCutoff: cutoffs.voice.toISOString(),
        dataCutoff: cutoffs.data.toISOString(),
        ...(ended && { ended }),
      },
      "retention run",
    );
  }
}

/**
 * Runs `batch` (which returns how many rows it took) until one takes fewer than `size`, the last of
 * what was due, or until `stopped`: between batches, so that a node shutting down does not wait
 * for a whole run.
 */
async function inBatches(size: number, stopped: AbortSignal, batch: () => Promise<number>): Promise<void> {
  let taken = size;
  while (taken === size && !stopped.aborted) taken = await batch();
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
  "wall_alerts",
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

/** Up to `limit` sessions redacted since `since` that hold content again: every table redactSessions deletes from. */
async function redactedWithContent(tx: TransactionSql, since: Date, limit: number): Promise<{ id: string }[]> {
  const inContentTable = SESSION_CONTENT_TABLES.map(
    (table) => tx`exists (select 1 from ${tx(table)} c where c.session_id = s.id)`,
  ).reduce((either, next) => tx`${either} or ${next}`);
  // dead_letters.session_id is text as the envelope carried it: compared lower-case, uncorrelated
  // (one hashed lookup, not a scan of dead_letters per session).
  return tx<{ id: string }[]>`
    select s.id from sessions s where s.redacted_at >= ${since}
      and (${inContentTable} or s.id::text in (select lower(d.session_id) from dead_letters d))
    limit ${limit} for update of s skip locked`;
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
  if (ids.length === 0) return noCounts();
  // dead_letters.session_id is text as the envelope carried it (it may not be a UUID at all),
  // so compare it in the canonical lower-case form rather than casting it.
  const lowerIds = ids.map((id) => id.toLowerCase());
  const [a, t, s, f, q, sig, w, d, r] = await Promise.all([
    tx`delete from audio_fingerprints where session_id = any(${ids}::uuid[])`,
    tx`delete from transcript_segments where session_id = any(${ids}::uuid[])`,
    tx`delete from score_updates where session_id = any(${ids}::uuid[])`,
    tx`delete from final_scores where session_id = any(${ids}::uuid[])`,
    tx`delete from ai_questions where session_id = any(${ids}::uuid[])`,
    tx`delete from transcript_signatures where session_id = any(${ids}::uuid[])`,
    tx`delete from wall_alerts where session_id = any(${ids}::uuid[])`,
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
    wall_alerts: w.count,
    dead_letters: d.count,
    sessions_redacted: r.count,
  };
}

const noCounts = (): RetentionCounts => ({
  audio_fingerprints: 0,
  transcript_segments: 0,
  score_updates: 0,
  final_scores: 0,
  ai_questions: 0,
  transcript_signatures: 0,
  wall_alerts: 0,
  dead_letters: 0,
  sessions_redacted: 0,
});

function addCounts(into: RetentionCounts, more: RetentionCounts): void {
  for (const kind of Object.keys(into) as (keyof RetentionCounts)[]) into[kind] += more[kind];
}
