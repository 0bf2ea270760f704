// Sessions of this node, by id. A session that nobody joined before its token
// expired is swept away.
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
}

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  readonly #o: SessionRegistryOptions;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: SessionRegistryOptions) {
    this.#o = options;
    this.#sweeper = setInterval(() => this.#sweep(), 30_000).unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  create(store: Store): Session {
    const id = randomUUID();
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

  async end(session: Session, reason: EndReason, graceful: boolean): Promise<void> {
    if (!this.#sessions.delete(session.id)) return;
    await session.close(reason, graceful);
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
