// Sessions of this node, by id. A session that nobody joined within a minute
// is swept away (it counts against the node's capacity); one that runs longer
// than its maximum duration ends with its final score (END_REASON_MAX_DURATION).
// Ended sessions stay reachable for a short while, for the events that follow
// their end (the reward decision). Ends under way (the last words and the final
// score) are tracked: a shutdown waits for them before closing the records.
import { EndReason } from "@parley/proto/live";
import type { ResumableSession } from "@parley/records";
import type { Logger } from "pino";
import type { LiveBus } from "../live/LiveBus.ts";
import { Session, type Store } from "./Session.ts";

export interface SessionRegistryOptions {
  logger: Logger;
  bus: LiveBus;
  nodeId: string;
  /** A session nobody holds and nobody started media for within this time is removed. */
  unjoinedTtlMs: number;
  /** A started conversation ends after this long. */
  maxDurationMs: number;
  /** How long an ended session can still publish (its reward arrives after the end). */
  endedTtlMs?: number;
  /** How often unjoined and long-ended sessions are looked for (default 15 s). */
  sweepIntervalMs?: number;
  /** The sessions this node holds at most (NODE_MAX_SESSIONS; default: no limit). */
  maxSessions?: number;
}

/** Who created a session: counted against per-client limits until it ends. */
export interface SessionOrigin {
  clientIp: string;
  /** Gives the client's session slot back. */
  release: () => void;
}

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  readonly #ends = new Map<string, { release?: () => void; timer?: NodeJS.Timeout }>();
  readonly #ended = new Map<string, { session: Session; at: number }>();
  /** Ends under way: a session leaves #sessions at once, its close (last words, final score) takes seconds. */
  readonly #closing = new Set<Promise<void>>();
  readonly #o: SessionRegistryOptions;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: SessionRegistryOptions) {
    this.#o = options;
    this.#sweeper = setInterval(() => this.#sweep(), options.sweepIntervalMs ?? 15_000).unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * At NODE_MAX_SESSIONS. Placement chooses a node by heartbeats that may be
   * seconds old, and a session handed to a node counts there only once its
   * customer joins: the node itself checks again before it takes one on.
   */
  get full(): boolean {
    return this.#sessions.size >= (this.#o.maxSessions ?? Number.POSITIVE_INFINITY);
  }

  /** Sessions whose end is under way. */
  get ending(): number {
    return this.#closing.size;
  }

  create(id: string, store: Store, origin?: SessionOrigin, resumed?: ResumableSession): Session {
    const session = new Session(id, store, {
      logger: this.#o.logger.child({ sessionId: id }),
      bus: this.#o.bus,
      nodeId: this.#o.nodeId,
      resumed,
    });
    this.#sessions.set(id, session);
    this.#ends.set(id, origin ? { release: origin.release } : {});
    return session;
  }

  /**
   * Starts the session's conversation (`start`) and its maximum-duration clock; a conversation
   * resumed after its node restarted has only what is left of its time since it first started.
   */
  begin(session: Session, start: (session: Session) => void): void {
    start(session);
    const end = this.#ends.get(session.id);
    if (!end || end.timer) return;
    const startedAt = session.resumed?.startedAtMs ?? Date.now();
    const leftMs = Math.max(0, startedAt + this.#o.maxDurationMs - Date.now());
    end.timer = setTimeout(() => {
      session.logger.info({ maxDurationMs: this.#o.maxDurationMs }, "session reached its maximum duration");
      void this.end(session, EndReason.MAX_DURATION, true);
    }, leftMs).unref();
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  /** A live session, or one that ended within endedTtlMs. */
  recent(id: string): Session | undefined {
    return this.#sessions.get(id) ?? this.#ended.get(id)?.session;
  }

  all(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** Ends the session; never rejects (callers fire and forget): a failed close is logged. */
  async end(session: Session, reason: EndReason, graceful: boolean): Promise<void> {
    // Only this very session: an end told late (its conversation ended by itself) must not end
    // one taken up again under the same id.
    if (this.#sessions.get(session.id) !== session) return;
    this.#sessions.delete(session.id);
    this.#ended.set(session.id, { session, at: Date.now() });
    const end = this.#ends.get(session.id);
    this.#ends.delete(session.id);
    clearTimeout(end?.timer);
    const closing = session
      .close(reason, graceful)
      .catch((err: unknown) => session.logger.error({ err }, "session close failed"))
      .finally(() => {
        end?.release?.();
        this.#closing.delete(closing);
      });
    this.#closing.add(closing);
    await closing;
  }

  /**
   * Ends every live session at once (no last words: each scores what was
   * transcribed so far, without waiting for the speech worker) and waits, at most
   * `settleMs`, for the ends already under way: their final scores and end
   * records are published before the caller closes the bus and the records.
   */
  async closeAll(reason: EndReason, settleMs = 15_000): Promise<void> {
    clearInterval(this.#sweeper);
    for (const session of [...this.#sessions.values()]) void this.end(session, reason, false);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.#closing]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, settleMs);
      }),
    ]);
    clearTimeout(timer);
    if (this.#closing.size > 0)
      this.#o.logger.warn({ ending: this.#closing.size, settleMs }, "closing with session ends still under way");
  }

  #sweep(): void {
    const now = Date.now();
    const cutoff = now - this.#o.unjoinedTtlMs;
    for (const session of this.#sessions.values()) {
      if (!session.started && !session.hasOwner && session.createdAt < cutoff)
        void this.end(session, EndReason.NEVER_JOINED, false);
    }
    const endedCutoff = now - (this.#o.endedTtlMs ?? 120_000);
    for (const [id, { at }] of this.#ended) if (at < endedCutoff) this.#ended.delete(id);
  }
}
