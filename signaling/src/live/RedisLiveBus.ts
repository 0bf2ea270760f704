// The live-event bus across nodes. Local subscribers get every event at once
// through the in-process bus; every envelope is also appended to one Redis
// stream, which each node reads to deliver the other nodes' events to its own
// subscribers (a wall on node B sees the conversations of node A).
//
// A stream rather than pub/sub: entries survive a reader's reconnect, so a
// short Redis or network outage delays remote delivery instead of losing it.
// While Redis is unreachable, envelopes wait in a bounded outbox, in order.
// Readers drop duplicates (a retried append) by the per-session sequence
// number, and their own node's entries (already delivered locally);
// envelopes of no session (the wall's frames for every node) have no
// sequence and are delivered as they come.
import { fromBinary } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema } from "@parley/proto/live";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import { LogThrottle } from "../edge/LogThrottle.ts";
import { liveBusDropped, liveBusOutbox, liveBusRemoteEvents } from "../metrics.ts";
import type { LiveBus, LiveHandler, Unsubscribe } from "./LiveBus.ts";
import { LiveMessage } from "./LiveMessage.ts";
import { LocalLiveBus } from "./LocalLiveBus.ts";

export interface RedisLiveBusOptions {
  url: string;
  password?: string | undefined;
  nodeId: string;
  logger: Logger;
  /** The stream's key. */
  stream?: string;
  /** Entries the stream keeps (approximately): a few minutes of a busy cluster. */
  maxLength?: number;
  /** Envelopes kept while Redis is unreachable (besides a batch in flight); beyond it the oldest are dropped (counted). */
  outboxLimit?: number;
  /** Sessions remembered for de-duplication after their conversation ended. */
  endedSessionTtlMs?: number;
  /** Sessions without any event for this long are forgotten (their node died). */
  silentSessionTtlMs?: number;
  /**
   * Stream entries older than this are trimmed (default 1 h): they carry
   * transcripts, and nodes need them only for live delivery and to catch up
   * after a Redis outage; maxLength alone would keep them for as long as
   * 100k newer events take to come, on a quiet deployment for months.
   */
  streamMaxAgeMs?: number;
  /** How often the bus forgets sessions and trims the stream (default 30 s). */
  sweepIntervalMs?: number;
  /** Events dropped from a full outbox are logged at most this often, counted (default 5 s). */
  dropLogIntervalMs?: number;
  /**
   * How long Redis may leave a command unanswered (a read: beyond its block)
   * before the connection is taken for dead and replaced (default 5 s).
   */
  replyTimeoutMs?: number;
}

const FIELD = "e";

/** "1700000000000-3" → [ms, seq] for comparing stream ids. */
const parseId = (id: string): [number, number] => {
  const [ms, seq] = id.split("-");
  return [Number(ms), Number(seq ?? 0)];
};
const idBefore = (a: string, b: string) => {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am < bm || (am === bm && as < bs);
};

/** The longest wait between appends that Redis refused. */
const MAX_RETRY_DELAY_MS = 5_000;
/** Envelopes appended in one round trip. */
const BATCH = 500;
/** How long a read waits in Redis for new entries. */
const BLOCK_MS = 2_000;

export class RedisLiveBus implements LiveBus {
  readonly #local: LocalLiveBus;
  readonly #o: Required<Omit<RedisLiveBusOptions, "url" | "password">>;
  readonly #writer: Redis;
  readonly #reader: Redis;
  readonly #outbox: Uint8Array[] = [];
  /**
   * The outbox's first entries, handed to Redis in the pipeline now awaited:
   * they stay in place until Redis answers, on this connection or, resent by
   * ioredis, on the next (removed if appended, retried if not). They may be
   * in the stream already, so they are neither dropped nor counted against
   * outboxLimit: a full outbox must not lose events while Redis is reachable
   * and catching up.
   */
  #inFlight = 0;
  /** Lines about a full outbox: one per interval, however many events a long outage drops. */
  readonly #dropLog: LogThrottle;
  #flushing = false;
  #flushScheduled = false;
  /** After a failed append, the wait before the next (Redis answering but refusing: OOM, MISCONF, READONLY). */
  #retryDelayMs = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  /** Per remote session: the last sequence number delivered, when, and whether it ended. */
  readonly #remote = new Map<string, { seq: bigint; seenAt: number; ended: boolean }>();
  readonly #sweeper: NodeJS.Timeout;
  #lastId = "$";
  /** See hearingSince(): set by the first read answered after a break, cleared when the reader's connection goes. */
  #hearingSince: number | undefined;
  #closed = false;
  #reading: Promise<void> | undefined;
  /** Settles when the bus closes: a read stuck in ioredis (below) must not hold stop() forever. */
  readonly #closing: Promise<undefined>;
  #markClosed: () => void = () => {};

  constructor(options: RedisLiveBusOptions) {
    this.#o = {
      nodeId: options.nodeId,
      logger: options.logger,
      stream: options.stream ?? "parley:live",
      maxLength: options.maxLength ?? 100_000,
      outboxLimit: options.outboxLimit ?? 20_000,
      endedSessionTtlMs: options.endedSessionTtlMs ?? 5 * 60_000,
      silentSessionTtlMs: options.silentSessionTtlMs ?? 60 * 60_000,
      streamMaxAgeMs: options.streamMaxAgeMs ?? 60 * 60_000,
      sweepIntervalMs: options.sweepIntervalMs ?? 30_000,
      dropLogIntervalMs: options.dropLogIntervalMs ?? 5_000,
      replyTimeoutMs: options.replyTimeoutMs ?? 5_000,
    };
    this.#dropLog = new LogThrottle(1_000 / this.#o.dropLogIntervalMs, 1);
    this.#local = new LocalLiveBus(options.logger);
    this.#closing = new Promise((resolve) => {
      this.#markClosed = () => resolve(undefined);
    });
    const common = {
      maxRetriesPerRequest: null,
      connectionName: `parley:${options.nodeId}`,
      ...(options.password ? { password: options.password } : {}),
    };
    // A silent partition (packets dropped, no reset) leaves a socket open for many minutes and
    // its commands unanswered. socketTimeout destroys a socket that answers nothing for that long
    // while a command waits; ioredis then reconnects and resends the unanswered commands: an append
    // batch stays the outbox's head until answered on the new connection (see #inFlight), a read
    // resumes from the id it was sent with. Not commandTimeout: it fails the command but keeps the
    // dead socket, so every command after it times out too; not blockingTimeout: it fakes an empty
    // read, on the same dead socket.
    // No offline queue on the writer: while Redis is away the outbox holds envelopes, bounded.
    this.#writer = new Redis(options.url, {
      ...common,
      socketTimeout: this.#o.replyTimeoutMs,
      enableOfflineQueue: false,
      // A primary demoted to replica answers READONLY for good: reconnect (the name may now point at the new primary).
      reconnectOnError: (err) => err.message.startsWith("READONLY"),
    });
    this.#reader = new Redis(options.url, { ...common, socketTimeout: BLOCK_MS + this.#o.replyTimeoutMs });
    for (const [name, client] of [
      ["writer", this.#writer],
      ["reader", this.#reader],
    ] as const) {
      client.on("error", (err: Error) => this.#o.logger.warn({ err: err.message, client: name }, "redis error"));
    }
    // From the reader's connection going until a read is answered on the next, this node hears nothing of the
    // others (what they append meanwhile comes later): a wall must not take that for their conversations' silence.
    this.#reader.on("close", () => {
      this.#hearingSince = undefined;
    });
    // The wait after a refusal is kept across reconnects (a READONLY reconnect would otherwise
    // reset it every cycle): only an append that succeeds clears it.
    this.#writer.on("ready", () => this.#scheduleFlush());
    this.#sweeper = setInterval(() => this.#sweep(), this.#o.sweepIntervalMs).unref();
    this.#reading = this.#readLoop();
  }

  publish(envelope: LiveEnvelope): void {
    if (this.#closed) return;
    const message = new LiveMessage(envelope);
    this.#local.deliver(message);
    this.#outbox.push(message.envelopeBytes());
    this.#dropOverLimit();
    liveBusOutbox.set(this.#outbox.length);
    this.#scheduleFlush();
  }

  /**
   * Beyond outboxLimit envelopes waiting, the oldest not in flight never reach
   * other nodes (counted; logged at most once an interval).
   */
  #dropOverLimit(): void {
    while (this.#outbox.length - this.#inFlight > this.#o.outboxLimit) {
      if (this.#inFlight === 0) this.#outbox.shift();
      else this.#outbox.splice(this.#inFlight, 1);
      liveBusDropped.inc();
      const admitted = this.#dropLog.admit();
      if (admitted.ok)
        this.#o.logger.error(
          { outbox: this.#o.outboxLimit, dropped: admitted.suppressed + 1 },
          "redis unreachable: oldest live events dropped for other nodes",
        );
    }
  }

  subscribe(topic: string, handler: LiveHandler): Unsubscribe {
    return this.#local.subscribe(topic, handler);
  }

  subscribers(topic: string): number {
    return this.#local.subscribers(topic);
  }

  hearingSince(): number | undefined {
    return this.#hearingSince;
  }

  /** Envelopes not yet appended to the stream (waiting for Redis). */
  get pending(): number {
    return this.#outbox.length;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#markClosed();
    clearInterval(this.#sweeper);
    clearTimeout(this.#retryTimer);
    this.#local.close();
    // Give appends in flight a moment, then drop both connections.
    void this.#writer.quit().catch(() => this.#writer.disconnect());
    this.#reader.disconnect();
  }

  /** Closes and waits for the reader to stop (tests). */
  async stop(): Promise<void> {
    this.close();
    await this.#reading;
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#flushing || this.#closed) return;
    this.#flushScheduled = true;
    const flush = () => {
      this.#retryTimer = undefined;
      this.#flushScheduled = false;
      void this.#flush();
    };
    // Coalesce what is published in one turn of the event loop into one round trip;
    // after a refusal, back off rather than spin on the loop the audio path shares.
    if (this.#retryDelayMs > 0) this.#retryTimer = setTimeout(flush, this.#retryDelayMs);
    else setImmediate(flush);
  }

  async #flush(): Promise<void> {
    if (this.#flushing || this.#outbox.length === 0 || this.#writer.status !== "ready") return;
    this.#flushing = true;
    // The batch is the outbox's head, kept there (see #inFlight) while publish() goes on.
    const count = Math.min(this.#outbox.length, BATCH);
    this.#inFlight = count;
    try {
      const pipeline = this.#writer.pipeline();
      for (let i = 0; i < count; i++)
        pipeline.xadd(this.#o.stream, "MAXLEN", "~", this.#o.maxLength, "*", FIELD, Buffer.from(this.#outbox[i]!));
      const results = (await pipeline.exec()) ?? [];
      const failed = results.findIndex(([err]) => err);
      // Entries before the first failure are in the stream; the rest are retried.
      const done = failed === -1 ? count : failed;
      this.#outbox.splice(0, done);
      if (failed !== -1) throw results[failed]![0];
      this.#retryDelayMs = 0;
    } catch (err) {
      // Logged when the waits start and each time they reach the cap, not on every retry.
      if (this.#retryDelayMs === 0 || this.#retryDelayMs === MAX_RETRY_DELAY_MS)
        this.#o.logger.warn(
          { err: (err as Error).message, pending: this.#outbox.length },
          "live events wait for redis",
        );
      this.#retryDelayMs = Math.min(Math.max(2 * this.#retryDelayMs, 100), MAX_RETRY_DELAY_MS);
    } finally {
      // A batch that failed waits again, the oldest of all: first to go if over the limit.
      this.#inFlight = 0;
      this.#dropOverLimit();
      this.#flushing = false;
      liveBusOutbox.set(this.#outbox.length);
    }
    if (this.#outbox.length > 0 && this.#writer.status === "ready") this.#scheduleFlush();
  }

  async #readLoop(): Promise<void> {
    let failing = false;
    while (!this.#closed) {
      try {
        // "$" re-read after an empty reply would skip what was appended in between: read from an id.
        if (this.#lastId === "$") this.#lastId = (await this.#streamEnd()) ?? "$";
        else if (failing) await this.#resyncAfterOutage();
        const reply = (await this.#untilClosed(
          this.#reader.xreadBuffer("COUNT", 1000, "BLOCK", BLOCK_MS, "STREAMS", this.#o.stream, this.#lastId),
        )) as [Buffer, [Buffer, Buffer[]][]][] | null | undefined;
        failing = false;
        this.#hearingSince ??= Date.now();
        if (!reply) continue;
        for (const [, entries] of reply) for (const [id, fields] of entries) this.#onEntry(id.toString(), fields);
      } catch (err) {
        if (this.#closed) break;
        this.#hearingSince = undefined;
        if (!failing) this.#o.logger.warn({ err: (err as Error).message }, "live-event stream read failed; retrying");
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * The command's result, or undefined once the bus closes. ioredis can leave
   * a command pending forever when the connection is dropped mid-reconnect
   * (redis/ioredis#2193, #2197): the read loop must not wait on it after close.
   */
  #untilClosed<T>(command: Promise<T>): Promise<T | undefined> {
    command.catch(() => {}); // it may reject after close, when nobody waits for it any more
    return Promise.race([command, this.#closing]);
  }

  /**
   * After an outage the stream may be new (a Redis restarted without
   * persistence numbers its entries from scratch): then read it from the
   * start, or nothing would ever come after the last id seen before.
   */
  async #resyncAfterOutage(): Promise<void> {
    const lastGenerated = (await this.#streamEnd().catch(() => "0-0")) ?? "0-0";
    if (idBefore(lastGenerated, this.#lastId)) {
      this.#o.logger.warn({ lastSeen: this.#lastId, lastGenerated }, "live-event stream was reset; reading it anew");
      this.#lastId = "0-0";
    }
  }

  /** The id of the stream's last entry ever appended ("0-0" for no stream yet); undefined once closed. */
  async #streamEnd(): Promise<string | undefined> {
    try {
      const info = (await this.#untilClosed(this.#reader.call("XINFO", "STREAM", this.#o.stream))) as
        | unknown[]
        | undefined;
      if (!info) return undefined;
      const at = info.indexOf("last-generated-id");
      return at >= 0 ? String(info[at + 1]) : "0-0";
    } catch (err) {
      if ((err as Error).message.includes("no such key")) return "0-0";
      throw err;
    }
  }

  #onEntry(id: string, fields: Buffer[]): void {
    this.#lastId = id;
    const at = fields.findIndex((f, i) => i % 2 === 0 && f.toString() === FIELD);
    const bytes = at >= 0 ? fields[at + 1] : undefined;
    if (!bytes) return;
    let envelope: LiveEnvelope;
    try {
      envelope = fromBinary(LiveEnvelopeSchema, bytes);
    } catch (err) {
      this.#o.logger.error({ err, id }, "undecodable live-event entry skipped");
      return;
    }
    if (envelope.nodeId === this.#o.nodeId) return; // delivered locally when published
    if (!envelope.sessionId) {
      // Of no conversation (a wall frame for every node): no sequence to keep. A retried
      // append may deliver it twice, which a dashboard shows just the same.
      liveBusRemoteEvents.inc();
      this.#local.deliver(new LiveMessage(envelope, bytes));
      return;
    }
    const known = this.#remote.get(envelope.sessionId);
    if (known && envelope.seq <= known.seq) return; // a duplicate (a retried append)
    this.#remote.set(envelope.sessionId, {
      seq: envelope.seq,
      seenAt: Date.now(),
      ended: (known?.ended ?? false) || envelope.event?.kind.case === "conversationEnded",
    });
    liveBusRemoteEvents.inc();
    this.#local.deliver(new LiveMessage(envelope, bytes));
  }

  #sweep(): void {
    const now = Date.now();
    for (const [sessionId, { seenAt, ended }] of this.#remote) {
      const ttl = ended ? this.#o.endedSessionTtlMs : this.#o.silentSessionTtlMs;
      if (now - seenAt > ttl) this.#remote.delete(sessionId);
    }
    // Entry ids are Redis's milliseconds; every node trims, which is idempotent.
    if (this.#writer.status === "ready")
      this.#writer
        .xtrim(this.#o.stream, "MINID", `${now - this.#o.streamMaxAgeMs}-0`)
        .catch((err: Error) => this.#o.logger.debug({ err: err.message }, "live-event stream trim failed"));
  }
}
