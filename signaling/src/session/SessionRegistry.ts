// Sessions of this node, by id. A session that nobody joined before its token
// expired is swept away; one that runs longer than its maximum duration ends
// with its final score (END_REASON_MAX_DURATION).
import { randomUUID } from "node:crypto";
import { EndReason } from "@parley/proto/live";
import type { Logger } from "pino";
import type { LiveBus } from "../live/LiveBus.ts";
import type { Store } from "../stores/StoreDirectory.ts";
import { Session } from "./Session.ts";

export interface SessionRegistryOptions {
  logger: Logger;
  bus: LiveBus;
  nodeId: string;
  /** A session nobody started media for within this time is removed. */
  unjoinedTtlMs: number;
  /** A started conversation ends after this long. */
  maxDurationMs: number;
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
  readonly #o: SessionRegistryOptions;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: SessionRegistryOptions) {
    this.#o = options;
    this.#sweeper = setInterval(() => this.#sweep(), 30_000).unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  create(store: Store, origin?: SessionOrigin): Session {
    const id = randomUUID();
    const session = new Session(id, store, {
      logger: this.#o.logger.child({ sessionId: id }),
      bus: this.#o.bus,
      nodeId: this.#o.nodeId,
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

  all(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  async end(session: Session, reason: EndReason, graceful: boolean): Promise<void> {
    if (!this.#sessions.delete(session.id)) return;
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
    const cutoff = Date.now() - this.#o.unjoinedTtlMs;
    for (const session of this.#sessions.values()) {
      if (!session.started && session.createdAt < cutoff) void this.end(session, EndReason.NEVER_JOINED, false);
    }
  }
}
