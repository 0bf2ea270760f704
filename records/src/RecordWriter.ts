// The write queue between the live-event bus and Postgres. The bus calls
// write() for every envelope on the node's hot path: it only appends to an
// array (no await, no I/O, no serialisation). A single flush loop drains the
// queue in batches, one transaction per batch, in order.
//
// Exactly once: every row has a natural key (session id + segment id, + the
// envelope's seq, + turn, ...) and is written with ON CONFLICT, so a batch that
// is retried after its commit was lost in a dropped connection changes nothing.
// While Postgres is unreachable the batch stays at the head of the queue and is
// retried with backoff; nothing is removed before its transaction committed.
// Records Postgres refuses for good (a constraint, bad data) are isolated one by
// one and kept in dead_letters rather than blocking the queue or vanishing; while
// dead_letters cannot be written either, such a record waits at the head of the
// queue like any other.
import { toBinary } from "@bufbuild/protobuf";
import {
  type AiTurn,
  type ConversationEnded,
  EndReason,
  type FeedbackScore,
  type LiveEnvelope,
  LiveEnvelopeSchema,
  type SessionStarted,
  type TranscriptSegment,
} from "@parley/proto/live";
import type { Logger } from "pino";
import type { Sql, TransactionSql } from "postgres";
import { isRetryableDbError } from "./db/errors.ts";
import { UUID } from "./db/uuid.ts";
import {
  recordsBatchDuration,
  recordsDeadLettersTotal,
  recordsQueueDepth,
  recordsWriteRetriesTotal,
  recordsWrittenTotal,
} from "./metrics.ts";

/** A session as the node creates it, before any live event: store, consent and fingerprints. */
export interface SessionOpening {
  sessionId: string;
  storeId: string;
  businessId: string;
  consentGivenAt: Date;
  consentVersion: string;
  deviceHash: string | null;
  ipHash: string | null;
  receiptRef: string | null;
  /** Keyed hash of receiptRef: outlives a customer's deletion, for the duplicate-receipt rule. */
  receiptHash: string | null;
  dataCodeHash: string;
  nodeId: string;
}

type QueueItem =
  | { kind: "open"; row: SessionOpening }
  | { kind: "event"; envelope: LiveEnvelope }
  | { kind: "invalid"; sessionId: string; reason: string; envelope: LiveEnvelope };

export interface RecordWriterOptions {
  sql: Sql;
  logger: Logger;
  /** Records per transaction. */
  batchSize?: number;
  /** How long the first record of a batch waits for company. */
  flushIntervalMs?: number;
  /** Beyond this the queue refuses records (counted and logged): memory is bounded while Postgres is away. */
  maxQueued?: number;
  retry?: { initialMs: number; maxMs: number };
  /** Called after the transaction that ended these sessions committed. */
  onSessionsEnded?: (sessionIds: string[]) => void;
}

export class RecordWriter {
  readonly #sql: Sql;
  readonly #logger: Logger;
  readonly #batchSize: number;
  readonly #flushIntervalMs: number;
  readonly #maxQueued: number;
  readonly #retry: { initialMs: number; maxMs: number };
  readonly #onSessionsEnded: (sessionIds: string[]) => void;
  #queue: QueueItem[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #wakeRetry: (() => void) | undefined;
  #closed = false;
  #refused = 0;
  #written = 0;
  /** When a write last failed for an outage (Date.now), for the records sweep's wait. */
  #lastOutageAt: number | undefined;
  /** Set while dead_letters refuses inserts: logged once per outage, not per retry. */
  #deadLettersFailing = false;

  constructor(options: RecordWriterOptions) {
    this.#sql = options.sql;
    this.#logger = options.logger;
    this.#batchSize = options.batchSize ?? 500;
    this.#flushIntervalMs = options.flushIntervalMs ?? 20;
    this.#maxQueued = options.maxQueued ?? 200_000;
    this.#retry = options.retry ?? { initialMs: 100, maxMs: 5_000 };
    this.#onSessionsEnded = options.onSessionsEnded ?? (() => {});
  }

  /** Records waiting (including a batch being written). */
  get depth(): number {
    return this.#queue.length;
  }

  /** Records committed since start. */
  get written(): number {
    return this.#written;
  }

  /** How long ago a write last failed because Postgres was away or read-only; undefined: never. */
  msSinceOutage(): number | undefined {
    return this.#lastOutageAt === undefined ? undefined : Date.now() - this.#lastOutageAt;
  }

  /**
   * The bus subscriber: keeps what is durable (final segments, scores, AI
   * questions, start and end) and drops the rest at once. Never awaits.
   */
  write(envelope: LiveEnvelope): void {
    const kind = envelope.event?.kind;
    if (!kind) return;
    switch (kind.case) {
      case "transcript":
        if (!kind.value.isFinal) return; // partials are replaced within a second; only finals are kept
        break;
      case "score":
      case "aiTurn":
      case "conversationEnded":
      case "sessionStarted":
        break;
      default:
        return; // status, AI speech state, rewards (ours): not records
    }
    if (!UUID.test(envelope.sessionId)) {
      this.#enqueue({ kind: "invalid", sessionId: envelope.sessionId, reason: "session id is not a UUID", envelope });
      return;
    }
    this.#enqueue({ kind: "event", envelope });
  }

  /** Queues a session's first row (consent, store, fingerprints); it is written before its events. */
  open(row: SessionOpening): void {
    this.#enqueue({ kind: "open", row });
  }

  /** Resolves once everything queued before the call is written (or `timeoutMs` passed: false). */
  async drain(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.#queue.length > 0 || this.#flushing) {
      if (Date.now() >= deadline) return false;
      this.#wakeRetry?.();
      if (!this.#flushing) this.#startFlush();
      await Promise.race([this.#flushing, sleep(Math.max(1, Math.min(50, deadline - Date.now())))]);
    }
    return true;
  }

  /** Writes what it can within `timeoutMs`, then stops; what is left is logged. Safe to call twice. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.#closed) return;
    const drained = await this.drain(timeoutMs);
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#wakeRetry?.();
    if (!drained)
      this.#logger.error({ unwritten: this.#queue.length }, "records: Postgres unreachable at shutdown, records lost");
  }

  #enqueue(item: QueueItem): void {
    if (this.#closed) {
      this.#logger.error({ sessionId: sessionOf(item) }, "records: write after close, refused");
      recordsDeadLettersTotal.inc({ reason: "closed" });
      return;
    }
    if (this.#queue.length >= this.#maxQueued) {
      // Memory must stay bounded while Postgres is away; say so loudly, once per 1000.
      if (this.#refused++ % 1000 === 0)
        this.#logger.error({ queued: this.#queue.length, refused: this.#refused }, "records: queue full, refusing");
      recordsDeadLettersTotal.inc({ reason: "queue_full" });
      return;
    }
    this.#queue.push(item);
    if (this.#timer === undefined && !this.#flushing)
      this.#timer = setTimeout(() => this.#startFlush(), this.#flushIntervalMs);
  }

  #startFlush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#flushing || this.#closed) return;
    // Nothing in the loop should throw, but a rejection here would be unhandled and end the process.
    const loop = this.#flushLoop().catch((error: unknown) => {
      this.#logger.error({ err: error, queued: this.#queue.length }, "records: flush failed, will retry");
    });
    this.#flushing = loop.finally(() => {
      this.#flushing = undefined;
      if (this.#queue.length > 0 && !this.#closed)
        this.#timer = setTimeout(() => this.#startFlush(), this.#flushIntervalMs);
    });
  }

  async #flushLoop(): Promise<void> {
    let delay = this.#retry.initialMs;
    while (this.#queue.length > 0 && !this.#closed) {
      recordsQueueDepth.set(this.#queue.length);
      const batch = this.#queue.slice(0, this.#batchSize);
      try {
        const ended = await this.#writeBatch(batch);
        this.#commit(batch.length, ended);
        delay = this.#retry.initialMs;
      } catch (error) {
        if (isRetryableDbError(error)) {
          this.#lastOutageAt = Date.now();
          recordsWriteRetriesTotal.inc();
          this.#logger.warn(
            { err: describe(error), queued: this.#queue.length, retryInMs: delay },
            "records: Postgres unreachable or read-only, will retry",
          );
          await this.#sleepUnlessWoken(delay);
          delay = Math.min(delay * 2, this.#retry.maxMs);
          continue;
        }
        // Something in the batch is refused for good: find it, keep the rest.
        const stop = await this.#isolate(batch);
        if (stop) {
          await this.#sleepUnlessWoken(delay);
          delay = Math.min(delay * 2, this.#retry.maxMs);
        }
      }
    }
    recordsQueueDepth.set(this.#queue.length);
  }

  /** Writes a refused batch one record per transaction; returns true when Postgres went away meanwhile. */
  async #isolate(batch: QueueItem[]): Promise<boolean> {
    for (const item of batch) {
      try {
        const ended = await this.#writeBatch([item]);
        this.#commit(1, ended);
      } catch (error) {
        if (isRetryableDbError(error)) return true;
        // Only dropped from the queue once it is stored elsewhere: if dead_letters fails
        // too, the record stays at the head and the loop backs off as for an outage.
        if (!(await this.#deadLetter(item, describe(error)))) return true;
        this.#queue.shift();
      }
    }
    return false;
  }

  #commit(count: number, ended: string[]): void {
    this.#queue.splice(0, count);
    this.#written += count;
    if (ended.length > 0) {
      try {
        this.#onSessionsEnded(ended);
      } catch (error) {
        this.#logger.error({ err: error }, "records: onSessionsEnded failed");
      }
    }
  }

  /** Stores a refused record in dead_letters; false when that insert failed too. */
  async #deadLetter(item: QueueItem, error: string): Promise<boolean> {
    const sessionId = sessionOf(item);
    const kind = item.kind === "open" ? "open" : (item.envelope.event?.kind.case ?? "unknown");
    const payload =
      item.kind === "open"
        ? Buffer.from(JSON.stringify(item.row))
        : Buffer.from(toBinary(LiveEnvelopeSchema, item.envelope));
    try {
      await this.#sql`
        insert into dead_letters (session_id, kind, error, payload)
        values (${sessionId}, ${kind}, ${error}, ${payload})`;
    } catch (failure) {
      if (!this.#deadLettersFailing)
        this.#logger.error(
          { sessionId, kind, error, err: describe(failure) },
          "records: refused by Postgres and dead_letters cannot be written, kept in the queue",
        );
      this.#deadLettersFailing = true;
      return false;
    }
    this.#deadLettersFailing = false;
    recordsDeadLettersTotal.inc({ reason: item.kind === "invalid" ? "invalid" : "refused" });
    this.#logger.error({ sessionId, kind, error }, "records: refused by Postgres, kept in dead_letters");
    return true;
  }

  #sleepUnlessWoken(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeRetry = () => {
        this.#wakeRetry = undefined;
        done();
      };
    });
  }

  /** One transaction; returns the sessions it ended. */
  async #writeBatch(batch: QueueItem[]): Promise<string[]> {
    const opens = new Map<string, SessionOpening>();
    const started = new Map<string, { envelope: LiveEnvelope; value: SessionStarted }>();
    const segments = new Map<string, { envelope: LiveEnvelope; value: TranscriptSegment }>();
    const scores = new Map<string, { envelope: LiveEnvelope; value: FeedbackScore }>();
    const questions = new Map<string, { envelope: LiveEnvelope; value: AiTurn }>();
    const ended = new Map<string, { envelope: LiveEnvelope; value: ConversationEnded }>();
    let invalid = 0;
    for (const item of batch) {
      if (item.kind === "open") {
        opens.set(item.row.sessionId, item.row);
        continue;
      }
      if (item.kind === "invalid") {
        invalid++;
        continue;
      }
      const { envelope } = item;
      const kind = envelope.event!.kind;
      const sid = envelope.sessionId;
      // Keyed like the table's primary key: one statement may not touch a row twice.
      switch (kind.case) {
        case "sessionStarted":
          started.set(sid, { envelope, value: kind.value });
          break;
        case "transcript": {
          const key = `${sid}/${kind.value.segmentId}`;
          const seen = segments.get(key);
          if (!seen || seen.envelope.seq < envelope.seq) segments.set(key, { envelope, value: kind.value });
          break;
        }
        case "score":
          scores.set(`${sid}/${envelope.seq}`, { envelope, value: kind.value });
          break;
        case "aiTurn":
          questions.set(`${sid}/${kind.value.turn}`, { envelope, value: kind.value });
          break;
        case "conversationEnded":
          ended.set(sid, { envelope, value: kind.value });
          break;
      }
    }
    if (invalid > 0) {
      // Refused before Postgres saw them: go straight to the dead letters.
      if (batch.length > 1) throw new InvalidRecord();
      const item = batch[0] as Extract<QueueItem, { kind: "invalid" }>;
      throw new InvalidRecord(item.reason);
    }

    const started0 = performance.now();
    await this.#sql.begin(async (tx) => {
      // Parents first, then children: the statements run in this order on one connection.
      const work: Promise<unknown>[] = [];
      if (opens.size) work.push(insertOpens(tx, [...opens.values()]));
      for (const { envelope, value } of started.values()) work.push(upsertStarted(tx, envelope, value));
      if (segments.size) work.push(upsertSegments(tx, [...segments.values()]));
      if (scores.size) work.push(insertScores(tx, [...scores.values()]));
      if (questions.size) work.push(insertQuestions(tx, [...questions.values()]));
      for (const { envelope, value } of ended.values()) work.push(...recordEnd(tx, envelope, value));
      await Promise.all(work);
    });
    recordsBatchDuration.observe((performance.now() - started0) / 1000);
    if (opens.size) recordsWrittenTotal.inc({ kind: "session" }, opens.size);
    if (segments.size) recordsWrittenTotal.inc({ kind: "segment" }, segments.size);
    if (scores.size) recordsWrittenTotal.inc({ kind: "score" }, scores.size);
    if (questions.size) recordsWrittenTotal.inc({ kind: "ai_question" }, questions.size);
    if (ended.size) recordsWrittenTotal.inc({ kind: "end" }, ended.size);
    return [...ended.keys()];
  }
}

class InvalidRecord extends Error {
  override readonly name = "InvalidRecord";
  constructor(reason = "invalid record in batch") {
    super(reason);
  }
}

const msDate = (ms: bigint) => new Date(Number(ms));

function insertOpens(tx: TransactionSql, rows: SessionOpening[]) {
  const values = rows.map((r) => ({
    id: r.sessionId,
    store_id: r.storeId,
    business_id: r.businessId,
    consent_given_at: r.consentGivenAt,
    consent_version: r.consentVersion,
    device_hash: r.deviceHash,
    ip_hash: r.ipHash,
    receipt_ref: r.receiptRef,
    receipt_hash: r.receiptHash,
    data_code_hash: r.dataCodeHash,
    node_id: r.nodeId,
  }));
  // A SessionStarted that came first created the row without consent: complete it.
  return tx`
    insert into sessions ${tx(values)}
    on conflict (id) do update set
      consent_given_at = excluded.consent_given_at, consent_version = excluded.consent_version,
      device_hash = excluded.device_hash, ip_hash = excluded.ip_hash, receipt_ref = excluded.receipt_ref,
      receipt_hash = excluded.receipt_hash, data_code_hash = excluded.data_code_hash`;
}

/**
 * The session's start, and the node it is live on. A session resumed on another node starts there
 * again (a new SessionStarted, a new time): the first start stays, for the wall's times and the
 * maximum age of a resume; the node moves.
 */
function upsertStarted(tx: TransactionSql, envelope: LiveEnvelope, value: SessionStarted) {
  const startedAt = value.startedAtMs > 0n ? msDate(value.startedAtMs) : msDate(envelope.publishedAtMs);
  const node = value.nodeId || envelope.nodeId;
  const code = value.storeCode || envelope.storeCode;
  return tx`
    insert into sessions (id, store_id, business_id, started_at, node_id, language)
    select ${envelope.sessionId}, s.id, s.business_id, ${startedAt}, ${node}, ${value.language}
    from stores s where s.code = ${code}
    on conflict (id) do update set
      started_at = coalesce(sessions.started_at, excluded.started_at),
      node_id = excluded.node_id, language = excluded.language`;
}

function upsertSegments(tx: TransactionSql, items: { envelope: LiveEnvelope; value: TranscriptSegment }[]) {
  const rows = items.map(({ envelope, value }) => ({
    session_id: envelope.sessionId,
    segment_id: value.segmentId,
    seq: envelope.seq.toString(),
    text: value.text,
    words: tx.json(value.words.map((w) => ({ text: w.text, startMs: w.startMs, endMs: w.endMs }))),
    start_ms: value.startMs,
    end_ms: value.endMs,
    speech_final: value.speechFinal,
  }));
  return tx`
    insert into transcript_segments ${tx(rows)}
    on conflict (session_id, segment_id) do update set
      seq = excluded.seq, text = excluded.text, words = excluded.words,
      start_ms = excluded.start_ms, end_ms = excluded.end_ms, speech_final = excluded.speech_final
    where transcript_segments.seq < excluded.seq`;
}

function insertScores(tx: TransactionSql, items: { envelope: LiveEnvelope; value: FeedbackScore }[]) {
  const rows = items.map(({ envelope, value }) => ({
    session_id: envelope.sessionId,
    seq: envelope.seq.toString(),
    score: Math.min(100, value.score),
    specificity: value.specificity,
    actionability: value.actionability,
    sentiment: value.sentiment,
    relevance: value.relevance,
    topics: value.topics,
    hint: value.hint,
    engine: value.engine,
    through_segment_id: value.throughSegmentId,
    scored_at: msDate(envelope.publishedAtMs),
  }));
  return tx`insert into score_updates ${tx(rows)} on conflict do nothing`;
}

function insertQuestions(tx: TransactionSql, items: { envelope: LiveEnvelope; value: AiTurn }[]) {
  const rows = items.map(({ envelope, value }) => ({
    session_id: envelope.sessionId,
    turn: value.turn,
    text: value.text,
    aimed_at: value.aimedAt,
    asked_at: msDate(envelope.publishedAtMs),
  }));
  return tx`insert into ai_questions ${tx(rows)} on conflict do nothing`;
}

function recordEnd(tx: TransactionSql, envelope: LiveEnvelope, value: ConversationEnded): Promise<unknown>[] {
  const endedAt = msDate(envelope.publishedAtMs);
  const reason = EndReason[value.reason] ?? "UNSPECIFIED";
  // The first end stays, except the records sweep's NODE_LOST (unendedSessions.ts): that was a guess
  // that no end would come, with the last heard score for a final one, and a node whose writer was
  // cut off from Postgres for long proves it wrong. The score goes first: it asks for the guess.
  const work: Promise<unknown>[] = [];
  const s = value.finalScore;
  if (s)
    work.push(tx`
      insert into final_scores ${tx({
        session_id: envelope.sessionId,
        score: Math.min(100, s.score),
        specificity: s.specificity,
        actionability: s.actionability,
        sentiment: s.sentiment,
        relevance: s.relevance,
        topics: s.topics,
        summary: value.summary,
        engine: s.engine,
      })}
      on conflict (session_id) do update set
        score = excluded.score, specificity = excluded.specificity, actionability = excluded.actionability,
        sentiment = excluded.sentiment, relevance = excluded.relevance, topics = excluded.topics,
        summary = excluded.summary, engine = excluded.engine
      where exists (select 1 from sessions where id = excluded.session_id and end_reason = 'NODE_LOST')`);
  work.push(tx`
    update sessions set status = 'ended',
      ended_at = case when end_reason = 'NODE_LOST' then ${endedAt} else coalesce(ended_at, ${endedAt}) end,
      end_reason = case when end_reason = 'NODE_LOST' then ${reason} else coalesce(end_reason, ${reason}) end
    where id = ${envelope.sessionId}`);
  return work;
}

function sessionOf(item: QueueItem): string {
  return item.kind === "open" ? item.row.sessionId : item.kind === "invalid" ? item.sessionId : item.envelope.sessionId;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    return code ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
