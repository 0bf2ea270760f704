// Sessions of this node, by id. A session that nobody joined before its token
// expired is swept away. Ended sessions stay reachable for a short while, for
// the events that follow their end (the reward decision).
import { EndReason } from "@parley/proto/live";
import type { Logger } from "pino";
import type { LiveBus } from "../live/LiveBus.ts";
import { Session, type Store } from "./Session.ts";

export interface SessionRegistryOptions {
  logger: Logger;
  bus: LiveBus;
  nodeId: string;
  /** A session nobody started media for within this time is removed. */
  unjoinedTtlMs: number;
  /** How long an ended session can still publish (its reward arrives after the end). */
  endedTtlMs?: number;
}

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
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

  create(id: string, store: Store): Session {
    const session = new Session(id, store, {
      logger: this.#o.logger.child({ sessionId: id }),
      bus: this.#o.bus,
      nodeId: this.#o.nodeId,
    });
    this.#sessions.set(id, session);
    return session;
  }

  get(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  all(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  /** A live session, or one that ended within endedTtlMs. */
  recent(id: string): Session | undefined {
    return this.#sessions.get(id) ?? this.#ended.get(id)?.session;
  }

  async end(session: Session, reason: EndReason, graceful: boolean): Promise<void> {
    if (!this.#sessions.delete(session.id)) return;
    this.#ended.set(session.id, { session, at: Date.now() });
    await session.close(reason, graceful);
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
