// The records package as the node sees it: one object to create at start-up,
// a subscriber for the live-event bus (write), a per-session audio tap, the
// session's first row at creation (consent, store, fingerprints), REST routes
// to mount, a topic check for business and admin subscriptions, and close().
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { LiveEnvelope } from "@parley/proto/live";
import type { Logger } from "pino";
import type { Sql } from "postgres";
import { AudioFingerprinter } from "./audio/AudioFingerprinter.ts";
import { ADDRESS_LIMIT_FACTOR, addressKey, RateLimiter, type RateLimitOptions } from "./auth/RateLimiter.ts";
import { TokenRevocations } from "./auth/TokenRevocations.ts";
import { type Database, openDatabase } from "./db/connect.ts";
import { databaseUnavailable, isRetryableDbError } from "./db/errors.ts";
import { loadHashKey } from "./db/hashKey.ts";
import { migrate } from "./db/migrate.ts";
import { type DemoLogins, seedDemo } from "./db/seed.ts";
import { UUID } from "./db/uuid.ts";
import { DEFAULT_FRAUD_OPTIONS, FraudDetector, type FraudOptions } from "./fraud/FraudDetector.ts";
import type { CustomerDeletion, RecordsRateLimit } from "./http/context.ts";
import { createRoutes } from "./http/routes.ts";
import type { Route } from "./http/types.ts";
import { type PayoutFaults, type StripeOptions, StripePayouts } from "./payments/StripePayouts.ts";
import { RetentionJob, type RetentionOptions } from "./privacy/RetentionJob.ts";
import { type AlertQueries, alertQueries } from "./queries/alerts.ts";
import { type ModerationQueries, moderationQueries } from "./queries/moderation.ts";
import { type WallQueries, wallQueries } from "./queries/wall.ts";
import { RecordWriter, type RecordWriterOptions } from "./RecordWriter.ts";
import { AWAITING_OPENING, type CountSession, type Publish, SessionFinalizer } from "./rewards/SessionFinalizer.ts";
import { endUnendedSessions, WRITER_DRAIN_MS } from "./rewards/unendedSessions.ts";

/** The node's defaults: a 15 min token, a 5 min conversation, 20 s to rejoin. */
const DEFAULT_SESSION_LIVE_LIMIT_MS = (15 * 60 + 5 * 60 + 20) * 1000;

export interface RecordsOptions {
  /** DATABASE_URL; unset: the embedded PGlite in dataDir. */
  databaseUrl?: string | undefined;
  /** The embedded database's folder; survives restarts. */
  dataDir: string;
  /** This node's id (stored with each session). */
  nodeId: string;
  logger: Logger;
  /** JWT_SECRET: signs business and admin logins. */
  authSecret: string;
  /** ENCRYPTION_KEY (32 bytes): seals the hash key stored in the database (db/hashKey.ts). */
  encryptionKey?: Buffer | undefined;
  /** How long a business login lasts (default 12 h). */
  userTokenTtlMs?: number;
  /** Create the demo business, store and logins on an empty database (the embedded default does). */
  seedDemo?: boolean;
  /** ENABLE_FRAUD_DETECTION and the rules' limits. */
  fraud?: Partial<FraudOptions>;
  /** DATA_RETENTION_DAYS, VOICE_DATA_RETENTION_HOURS, and how often the job runs. */
  retention?: Partial<RetentionOptions>;
  /** Failed logins (and data-code attempts) per IP / e-mail: RATE_LIMIT_WINDOW_MS and a max. */
  loginRateLimit?: Partial<RateLimitOptions>;
  /** STRIPE_*; unset: rewards are decided and held, claims answer 503. */
  stripe?: StripeOptions | undefined;
  /** Sends our events (RewardUpdate) to a session's subscribers through the node's bus. */
  publish?: Publish;
  /** Increments feedback_sessions_total (the node owns that metric) for fraud_detected. */
  countSession?: CountSession;
  /** Told of each request refused by one of records' rate limits (the node counts them in rate_limit_refusals_total). */
  onRateLimited?: (limit: RecordsRateLimit) => void;
  /** The clock of rewards, fraud windows, retention and tokens (tests inject one). */
  now?: () => number;
  writer?: Partial<Omit<RecordWriterOptions, "sql" | "logger" | "onSessionsEnded">>;
  /**
   * How long after its creation a session that has not ended may still be
   * going: the customer's token lifetime (a late join) plus the longest
   * conversation and its rejoin grace. Its data cannot be deleted before it
   * ended or this has passed.
   */
  sessionLiveLimitMs?: number;
  /** Told after a customer deleted their data (the node takes it off public screens). */
  onCustomerDeleted?: (deleted: CustomerDeletion) => void;
  /** How often stuck payments and undecided rewards are retried (default 60 s; 0: never). */
  sweepIntervalMs?: number;
  /** Test hooks that simulate a crash between a Stripe call and our write. */
  payoutFaults?: PayoutFaults;
}

export interface SessionBeginning {
  sessionId: string;
  storeCode: string;
  /** The customer accepted the consent text of this version before the microphone opened. */
  consent: { given: boolean; version: string };
  /** A random id the app keeps on the device (localStorage); hashed before it is stored. */
  deviceId?: string | undefined;
  /** The client's IP address; hashed before it is stored. */
  ip?: string | undefined;
  /** The purchase or receipt reference from the store's QR code. */
  receipt?: string | undefined;
}

/** What is stored of a conversation whose node went away mid-conversation. */
export interface ResumableSession {
  sessionId: string;
  storeCode: string;
  /** The node the conversation was live on. */
  nodeId: string;
  /** When the conversation started (epoch ms): its maximum duration counts from here, not from the resume. */
  startedAtMs: number;
  /** Final segments in order of id. */
  segments: {
    segmentId: number;
    text: string;
    words: { text: string; startMs: number; endMs: number }[];
    startMs: number;
    endMs: number;
    speechFinal: boolean;
  }[];
  askedQuestions: string[];
  /** The highest envelope sequence number stored for the session. */
  maxSeq: bigint;
}

export interface BegunSession {
  sessionId: string;
  storeId: string;
  storeCode: string;
  storeName: string;
  businessId: string;
  language: string;
  currency: string;
  /** Give this to the customer: with the session id it opens and deletes their data. Not stored. */
  dataCode: string;
}

interface StoreInfo {
  id: string;
  code: string;
  name: string;
  businessId: string;
  language: string;
  currency: string;
  fetchedAt: number;
}

const STORE_CACHE_MS = 30_000;

/** A session's audio fingerprint in the making, on the node it lives on. */
interface TapEntry {
  tap: AudioFingerprinter;
  createdAt: number;
}

/**
 * When the ending node tries again a decision whose session's opening row has not arrived (after a
 * database outage, another node's queue may still hold it): within RECOVERY_GRACE_MS in all.
 */
const OPENING_RETRY_DELAYS_MS = [1_000, 4_000, 15_000, 30_000, 60_000];
const CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32: no I, L, O, U

export class Records {
  readonly sql: Sql;
  readonly database: Database;
  readonly logger: Logger;
  readonly writer: RecordWriter;
  readonly finalizer: SessionFinalizer;
  readonly fraud: FraudDetector;
  readonly retention: RetentionJob;
  readonly payouts: StripePayouts | undefined;
  readonly routes: Route[];
  /** Business logins withdrawn before they expire: the node's dashboards check them too. */
  readonly revocations: TokenRevocations;
  /** What the business wall and the admin monitor read (history, tiles, trends, alert recipients, names). */
  readonly wall: WallQueries;
  /** Moderation of feedback for public screens, audited. */
  readonly moderation: ModerationQueries;
  /** The wall's alerts, kept once across nodes (their snapshots read the recent ones). */
  readonly alerts: AlertQueries;
  /** The logins created on this start (first start of an empty database), else undefined. */
  readonly demo: DemoLogins | undefined;
  readonly #options: RecordsOptions;
  readonly #secret: Buffer;
  readonly #now: () => number;
  readonly #taps = new Map<string, TapEntry>();
  readonly #stores = new Map<string, StoreInfo>();
  readonly #finalizing = new Set<Promise<unknown>>();
  /** The last reward decision queued on this node: the next one starts after it. */
  #lastDecision: Promise<unknown> = Promise.resolve();
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Decisions waiting for their session's opening row, to be tried again (see #finalize). */
  readonly #retries = new Set<NodeJS.Timeout>();
  /** The sweep under way: a tick that finds one still running skips (see #sweep). */
  #sweeping: Promise<void> | undefined;
  /** When a sweep last found the database away (this.#now). */
  #sweepOutageAt: number | undefined;
  #closed = false;

  static async create(options: RecordsOptions): Promise<Records> {
    const logger = options.logger.child({ component: "records" });
    const started = performance.now();
    const database = await openDatabase({ databaseUrl: options.databaseUrl, dataDir: options.dataDir, logger });
    try {
      const applied = await migrate(database.sql);
      const secret = await loadHashKey(database.sql, options.encryptionKey);
      const demo = (options.seedDemo ?? !options.databaseUrl) ? await seedDemo(database.sql, logger) : undefined;
      logger.info(
        {
          database: database.embedded ? `embedded PGlite in ${database.embedded.dataDir}` : "DATABASE_URL",
          migrationsApplied: applied,
          ms: Math.round(performance.now() - started),
        },
        "records ready",
      );
      const records = new Records(options, logger, database, secret, demo);
      await records.#startBackground();
      return records;
    } catch (error) {
      await database.close();
      throw error;
    }
  }

  private constructor(
    options: RecordsOptions,
    logger: Logger,
    database: Database,
    secret: Buffer,
    demo: DemoLogins | undefined,
  ) {
    this.#options = options;
    this.logger = logger;
    this.database = database;
    this.sql = database.sql;
    this.#secret = secret;
    this.demo = demo;
    this.#now = options.now ?? Date.now;
    this.wall = wallQueries(this.sql);
    this.moderation = moderationQueries(this.sql);
    this.alerts = alertQueries(this.sql);
    this.fraud = new FraudDetector({ ...DEFAULT_FRAUD_OPTIONS, ...options.fraud });
    this.payouts = options.stripe
      ? new StripePayouts(this.sql, logger, options.stripe, options.payoutFaults)
      : undefined;
    this.finalizer = new SessionFinalizer({
      sql: this.sql,
      fraud: this.fraud,
      logger,
      publish: options.publish ?? (() => {}),
      countSession: options.countSession ?? (() => {}),
      now: this.#now,
      payouts: this.payouts !== undefined,
    });
    this.writer = new RecordWriter({
      ...options.writer,
      sql: this.sql,
      logger,
      onSessionsEnded: (ids) => {
        for (const id of ids) this.#finalize(id);
      },
    });
    const retention: RetentionOptions = {
      dataRetentionDays: options.retention?.dataRetentionDays ?? 730,
      voiceRetentionHours: options.retention?.voiceRetentionHours ?? 24,
      intervalMs: options.retention?.intervalMs ?? 3_600_000,
      fraudWindowMs:
        options.retention?.fraudWindowMs ?? { ...DEFAULT_FRAUD_OPTIONS, ...options.fraud }.velocityWindowMs,
      batchSize: options.retention?.batchSize,
    };
    this.retention = new RetentionJob(this.sql, logger, retention, this.#now);
    const limits = {
      windowMs: options.loginRateLimit?.windowMs ?? 900_000,
      max: options.loginRateLimit?.max ?? 10,
      skipSuccessful: options.loginRateLimit?.skipSuccessful ?? true,
      now: this.#now,
    };
    const limiter = new RateLimiter(limits);
    // Per address, ADDRESS_LIMIT_FACTOR times the allowance of one session's code or one e-mail, so that
    // people behind one address (a store's Wi-Fi, a shop's NAT) do not lock each other out, while one
    // client cannot guess without end: data-code guesses and failed logins, each with its own count.
    const codeAddressLimiter = new RateLimiter({ ...limits, max: limits.max * ADDRESS_LIMIT_FACTOR });
    const loginAddressLimiter = new RateLimiter({ ...limits, max: limits.max * ADDRESS_LIMIT_FACTOR });
    const userTokenTtlMs = options.userTokenTtlMs ?? 12 * 3_600_000;
    this.revocations = new TokenRevocations(this.sql, this.#now, userTokenTtlMs);
    this.routes = createRoutes({
      sql: this.sql,
      logger,
      authSecret: options.authSecret,
      userTokenTtlMs,
      revocations: this.revocations,
      loginLimiter: limiter,
      loginAddressLimiter,
      codeAddressLimiter,
      payouts: this.payouts,
      now: this.#now,
      verifyDataCode: (sessionId, code) => this.#verifyDataCode(sessionId, code),
      findByDataCode: (code) => this.#findByDataCode(code),
      dataRetentionDays: retention.dataRetentionDays,
      voiceRetentionHours: retention.voiceRetentionHours,
      sessionLiveLimitMs: options.sessionLiveLimitMs ?? DEFAULT_SESSION_LIVE_LIMIT_MS,
      ...(options.onCustomerDeleted ? { onCustomerDeleted: options.onCustomerDeleted } : {}),
      ...(options.onRateLimited ? { onRateLimited: options.onRateLimited } : {}),
      // This node's conversations get the change at once; other nodes' within STORE_CACHE_MS.
      onStoreChanged: (code) => this.#stores.delete(code),
    });
  }

  /** The bus subscriber. Never blocks: it only queues. */
  readonly write = (envelope: LiveEnvelope): void => {
    this.writer.write(envelope);
  };

  /**
   * The per-session PCM tap for the audio fingerprint: call push(pcm) with each
   * 16 kHz frame (no allocation per frame). Taken back when the session's end is recorded.
   */
  audioTap(sessionId: string): AudioFingerprinter {
    let entry = this.#taps.get(sessionId);
    if (!entry) {
      entry = { tap: new AudioFingerprinter(), createdAt: this.#now() };
      if (this.fraud.options.enabled) this.#taps.set(sessionId, entry);
    }
    return entry.tap;
  }

  /**
   * At session creation (POST /api/sessions), before the microphone opens:
   * checks the store and the consent, queues the session's first row and
   * returns what the node needs (business id for the envelopes, the data code
   * for the customer). Throws NOT_FOUND for an unknown store, INVALID_ARGUMENT
   * without consent, UNAVAILABLE when the store cannot be looked up.
   */
  async beginSession(input: SessionBeginning): Promise<BegunSession> {
    if (!UUID.test(input.sessionId)) throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "session id must be a UUID");
    if (!input.consent?.given || !input.consent.version)
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "the customer's consent is required before recording");
    const store = await this.#store(input.storeCode);
    const dataCode = Array.from(randomBytes(12), (b) => CODE_ALPHABET[b & 31]).join("");
    const receipt = input.receipt?.trim().toUpperCase().replace(/\s+/g, "").slice(0, 128) || null;
    this.writer.open({
      sessionId: input.sessionId,
      storeId: store.id,
      businessId: store.businessId,
      consentGivenAt: new Date(this.#now()),
      consentVersion: input.consent.version.slice(0, 64),
      deviceHash: input.deviceId ? this.#hash(`device:${input.deviceId}`) : null,
      // By the limiter's key: an IPv6 client rotates addresses within its /64.
      ipHash: input.ip ? this.#hash(`ip:${addressKey(input.ip)}`) : null,
      receiptRef: receipt,
      receiptHash: receipt ? this.#hash(`receipt:${receipt}`) : null,
      dataCodeHash: this.#dataCodeHash(dataCode),
      nodeId: this.#options.nodeId,
    });
    return {
      sessionId: input.sessionId,
      storeId: store.id,
      storeCode: store.code,
      storeName: store.name,
      businessId: store.businessId,
      language: store.language,
      currency: store.currency,
      dataCode: `${dataCode.slice(0, 4)}-${dataCode.slice(4, 8)}-${dataCode.slice(8)}`,
    };
  }

  /**
   * The store with this code, or undefined when there is none. Throws
   * UNAVAILABLE when the database cannot be asked (a known store is served
   * from a short cache meanwhile).
   */
  async findStore(
    code: string,
  ): Promise<{ code: string; name: string; businessId: string; language: string; currency: string } | undefined> {
    try {
      const store = await this.#store(code);
      return {
        code: store.code,
        name: store.name,
        businessId: store.businessId,
        language: store.language,
        currency: store.currency,
      };
    } catch (error) {
      if (error instanceof ParleyError && error.code === ErrorCode.NOT_FOUND) return undefined;
      throw error;
    }
  }

  /**
   * A conversation that was live on a node that went away (it restarted),
   * as far as it is stored: its store, its final segments, the AI's
   * questions and the highest event sequence number written. undefined when
   * the session is unknown, ended, or began more than `maxAgeMs` ago. Throws
   * a retryable UNAVAILABLE while the database cannot be reached (the
   * customer's app rejoins again).
   */
  async resumable(sessionId: string, maxAgeMs: number): Promise<ResumableSession | undefined> {
    if (!UUID.test(sessionId)) return undefined;
    try {
      return await this.#readResumable(sessionId, maxAgeMs);
    } catch (error) {
      if (isRetryableDbError(error)) throw databaseUnavailable("the session could not be read to resume it", error);
      throw error;
    }
  }

  async #readResumable(sessionId: string, maxAgeMs: number): Promise<ResumableSession | undefined> {
    const [session] = await this.sql<
      { store_code: string; status: string; started_at: Date | null; node_id: string | null }[]
    >`
      select st.code as store_code, s.status, s.started_at, s.node_id
      from sessions s join stores st on st.id = s.store_id where s.id = ${sessionId}`;
    if (session?.status !== "open" || !session.started_at) return undefined;
    if (session.started_at.getTime() < this.#now() - maxAgeMs) return undefined;
    const segments = await this.sql<
      {
        segment_id: number;
        seq: string;
        text: string;
        words: { text: string; startMs: number; endMs: number }[];
        start_ms: number;
        end_ms: number;
        speech_final: boolean;
      }[]
    >`
      select segment_id, seq, text, words, start_ms, end_ms, speech_final
      from transcript_segments where session_id = ${sessionId} order by segment_id`;
    const [scores] = await this.sql<{ max: string | null }[]>`
      select max(seq)::text as max from score_updates where session_id = ${sessionId}`;
    const questions = await this.sql<{ text: string }[]>`
      select text from ai_questions where session_id = ${sessionId} order by turn`;
    const seqs = [...segments.map((s) => BigInt(s.seq)), BigInt(scores?.max ?? "0")];
    return {
      sessionId,
      storeCode: session.store_code,
      nodeId: session.node_id ?? "",
      startedAtMs: session.started_at.getTime(),
      segments: segments.map((s) => ({
        segmentId: s.segment_id,
        text: s.text,
        words: (s.words ?? []).map((w) => ({ text: w.text, startMs: w.startMs, endMs: w.endMs })),
        startMs: s.start_ms,
        endMs: s.end_ms,
        speechFinal: s.speech_final,
      })),
      askedQuestions: questions.map((q) => q.text),
      maxSeq: seqs.reduce((a, b) => (b > a ? b : a), 0n),
    };
  }

  /** The stores of one business, or of every business (dashboards' filters). */
  async listStores(
    businessId?: string,
  ): Promise<{ code: string; name: string; businessId: string; language: string; currency: string }[]> {
    if (businessId !== undefined && !UUID.test(businessId)) return [];
    const rows = await this.sql<
      { code: string; name: string; business_id: string; language: string; currency: string }[]
    >`
      select s.code, s.name, s.business_id, s.language, b.currency
      from stores s join businesses b on b.id = s.business_id
      where ${businessId === undefined ? this.sql`true` : this.sql`s.business_id = ${businessId}`}
      order by s.code`;
    return rows.map((r) => ({
      code: r.code,
      name: r.name,
      businessId: r.business_id,
      language: r.language,
      currency: r.currency,
    }));
  }

  /** Writes everything queued, and waits for reward decisions in progress (tests, shutdown). */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    const drained = await this.writer.drain(timeoutMs);
    while (this.#finalizing.size > 0) await Promise.allSettled([...this.#finalizing]);
    return drained;
  }

  /** Writes what it can, stops the jobs and closes the database. Safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweepTimer);
    for (const retry of this.#retries) clearTimeout(retry);
    this.#retries.clear();
    await this.retention.stop();
    await this.writer.close();
    await Promise.allSettled([...this.#finalizing]);
    await this.database.close();
  }

  async #startBackground(): Promise<void> {
    this.retention.start();
    const interval = this.#options.sweepIntervalMs ?? 60_000;
    // Decisions a crash interrupted, on start and then with each sweep.
    await this.#sweep();
    if (interval > 0) {
      this.#sweepTimer = setInterval(() => void this.#sweep(), interval);
      this.#sweepTimer.unref();
    }
  }

  /**
   * One sweep at a time: a call while one runs gets that one. With Stripe hanging (20 s × 3 tries
   * for each of up to 100 rewards) a sweep outlasts many ticks; new ones would pile up behind it,
   * each paying the same rewards again.
   */
  #sweep(): Promise<void> {
    this.#sweeping ??= this.#runSweep().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #runSweep(): Promise<void> {
    // Each part on its own: a recovery that fails does not keep stuck payments from their retry.
    try {
      // Before the recovery, which then decides their rewards.
      if (this.#writersMayBeBehind()) {
        this.logger.debug("records sweep: the database was away lately; unended sessions left for now");
      } else {
        const ended = await endUnendedSessions(
          this.sql,
          this.#now(),
          this.#options.sessionLiveLimitMs ?? DEFAULT_SESSION_LIVE_LIMIT_MS,
        );
        if (ended.length > 0)
          this.logger.warn({ sessions: ended.length, sessionIds: ended.slice(0, 20) }, "sessions no node ended, ended");
      }
    } catch (error) {
      this.#noteSweepError(error, "records sweep: ending unended sessions failed");
    }
    try {
      await this.finalizer.recover();
    } catch (error) {
      // The database away: the next sweep retries (the writer reports the outage).
      this.#noteSweepError(error, "records sweep: reward recovery failed");
    }
    try {
      await this.payouts?.sweep();
    } catch (error) {
      this.#noteSweepError(error, "records sweep: payout sweep failed");
    }
    // A tap whose session never ended (a crash elsewhere) is not kept forever.
    const old = this.#now() - 3_600_000;
    for (const [id, entry] of this.#taps) if (entry.createdAt < old) this.#taps.delete(id);
  }

  /** An outage is logged by the writer; anything else is a fault of the sweep's own. */
  #noteSweepError(error: unknown, message: string): void {
    if (isRetryableDbError(error)) this.#sweepOutageAt = this.#now();
    else this.logger.error({ err: error }, message);
  }

  /**
   * Whether a conversation's end may still sit in a writer's queue. After an outage longer than
   * the unended margin, every node's writer holds ends of sessions the sweep would otherwise call
   * lost (and decide as such) before the writers drained. Ours tells us directly; the other nodes'
   * writers saw the same outage and drain within WRITER_DRAIN_MS of its end.
   */
  #writersMayBeBehind(): boolean {
    const writerOutage = this.writer.msSinceOutage();
    if (writerOutage !== undefined && writerOutage < WRITER_DRAIN_MS) return true;
    return this.#sweepOutageAt !== undefined && this.#now() - this.#sweepOutageAt < WRITER_DRAIN_MS;
  }

  #finalize(sessionId: string, attempt = 0): void {
    const entry = this.#taps.get(sessionId);
    this.#taps.delete(sessionId);
    const fingerprint = entry ? entry.tap.fingerprint() : undefined;
    // One decision at a time on this node, in the order the ends were written: of two sessions
    // with the same receipt, recording or words that end together (one writer batch), the one that
    // ended first is decided first and the other compared with it. Across nodes the business's
    // lock orders them.
    const work = this.#lastDecision
      .then(async () => {
        const result = await this.finalizer.tryFinalize(sessionId, fingerprint);
        if (result === AWAITING_OPENING) this.#finalizeLater(sessionId, entry, attempt);
      })
      .catch((error: unknown) =>
        // The sweep decides it later (without the fingerprint, which lived in memory).
        this.logger.error({ sessionId, err: error }, "reward decision failed; the sweep retries it"),
      )
      .finally(() => this.#finalizing.delete(work));
    this.#lastDecision = work;
    this.#finalizing.add(work);
  }

  /**
   * Tries again, with the fingerprint, a decision whose session's opening row is not stored yet,
   * while this node has the turn before the sweep (RECOVERY_GRACE_MS); after that the sweep decides
   * it, once the row is there, without the fingerprint.
   */
  #finalizeLater(sessionId: string, entry: TapEntry | undefined, attempt: number): void {
    const delayMs = OPENING_RETRY_DELAYS_MS[attempt];
    if (delayMs === undefined || this.#closed) return;
    if (entry) this.#taps.set(sessionId, entry);
    const retry = setTimeout(() => {
      this.#retries.delete(retry);
      this.#finalize(sessionId, attempt + 1);
    }, delayMs).unref();
    this.#retries.add(retry);
  }

  async #store(code: string): Promise<StoreInfo> {
    const cached = this.#stores.get(code);
    if (cached && this.#now() - cached.fetchedAt < STORE_CACHE_MS) return cached;
    let rows: { id: string; code: string; name: string; business_id: string; language: string; currency: string }[];
    try {
      rows = await this.sql`
        select s.id, s.code, s.name, s.business_id, s.language, b.currency
        from stores s join businesses b on b.id = s.business_id where s.code = ${code}`;
    } catch (error) {
      if (cached) return cached; // Postgres away: a known store still works
      throw databaseUnavailable("store lookup failed", error);
    }
    const row = rows[0];
    if (!row) throw new ParleyError(ErrorCode.NOT_FOUND, `no store with code ${code}`);
    const info = {
      id: row.id,
      code: row.code,
      name: row.name,
      businessId: row.business_id,
      language: row.language,
      currency: row.currency,
      fetchedAt: this.#now(),
    };
    this.#stores.set(code, info);
    return info;
  }

  #hash(value: string): string {
    return createHmac("sha256", this.#secret).update(value).digest("base64url");
  }

  /**
   * The keyed hash a data code is kept as. Typed back, case, spaces and dashes do not matter, nor
   * Crockford's look-alikes (O for 0, I or L for 1: the alphabet has none of them).
   */
  #dataCodeHash(code: string): string {
    const typed = code.toUpperCase().replace(/[^0-9A-Z]/g, "");
    return this.#hash(`code:${typed.replace(/O/g, "0").replace(/[IL]/g, "1")}`);
  }

  async #verifyDataCode(sessionId: string, code: string): Promise<boolean> {
    const [row] = await this.sql<{ data_code_hash: string | null }[]>`
      select data_code_hash from sessions where id = ${sessionId}`;
    const expected = Buffer.from(this.#dataCodeHash(code));
    const stored = Buffer.from(row?.data_code_hash ?? "");
    return stored.length === expected.length && timingSafeEqual(stored, expected);
  }

  async #findByDataCode(code: string): Promise<string | undefined> {
    const [row] = await this.sql<{ id: string }[]>`
      select id from sessions where data_code_hash = ${this.#dataCodeHash(code)}`;
    return row?.id;
  }
}
