// Sessions of this node, by id. A session that nobody joined before its token
// expired is swept away; one that runs longer than its maximum duration ends
// with its final score (END_REASON_MAX_DURATION). Ended sessions stay
// reachable for a short while, for the events that follow their end (the
// reward decision).
import { EndReason } from "@parley/proto/live";
import type { ResumableSession } from "@parley/records";
import type { Logger } from "pino";
import type { LiveBus } from "../live/LiveBus.ts";
import { Session, type Store } from "./Session.ts";

export interface SessionRegistryOptions {
  logger: Logger;
  bus: LiveBus;
  nodeId: string;
  /** A session nobody started media for within this time is removed. */
  unjoinedTtlMs: number;
  /** A started conversation ends after this long. */
  maxDurationMs: number;
  /** How long an ended session can still publish (its reward arrives after the end). */
  endedTtlMs?: number;
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
  readonly #o: SessionRegistryOptions;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: SessionRegistryOptions) {
    this.#o = options;
    this.#sweeper = setInterval(() => this.#sweep(), 30_000).unref();
  }

  get size(): number {
    return this.#sessions.size;
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

  /** Starts the session's conversation (`start`) and its maximum-duration clock. */
  begin(session: Session, start: (session: Session) => void): void {
    start(session);
    const end = this.#ends.get(session.id);
    if (!end || end.timer) return;
    end.timer = setTimeout(() => {
      session.logger.info({ maxDurationMs: this.#o.maxDurationMs }, "session reached its maximum duration");
      void this.end(session, EndReason.MAX_DURATION, true);
    }, this.#o.maxDurationMs).unref();
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

  async end(session: Session, reason: EndReason, graceful: boolean): Promise<void> {
    if (!this.#sessions.delete(session.id)) return;
    this.#ended.set(session.id, { session, at: Date.now() });
    const end = this.#ends.get(session.id);
    this.#ends.delete(session.id);
    clearTimeout(end?.timer);
    try {
      await session.close(reason, graceful);
    } finally {
      end?.release?.();
    }
  }

  async closeAll(reason: EndReason): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#sessions.values()].map((s) => this.end(s, reason, false)));
  }

  #sweep(): void {
    const now = Date.now();
    const cutoff = now - this.#o.unjoinedTtlMs;
    for (const session of this.#sessions.values()) {
      if (!session.started && session.createdAt < cutoff) void this.end(session, EndReason.NEVER_JOINED, false);
    }
    const endedCutoff = now - (this.#o.endedTtlMs ?? 120_000);
    for (const [id, { at }] of this.#ended) if (at < endedCutoff) this.#ended.delete(id);
  }
}
