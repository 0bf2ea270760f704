// Sessions of this node, by id. A session that nobody joined before its token
// expired is swept away.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { activeSessions } from "./metrics.ts";
import { EndReason, type Publish, Session } from "./Session.ts";

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  readonly #logger: Logger;
  readonly #publish: Publish;
  readonly #unjoinedTtlMs: number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(logger: Logger, publish: Publish, unjoinedTtlMs: number) {
    this.#logger = logger;
    this.#publish = publish;
    this.#unjoinedTtlMs = unjoinedTtlMs;
    this.#sweeper = setInterval(() => this.#sweep(), 30_000).unref();
  }

  get size(): number {
    return this.#sessions.size;
  }

  create(storeCode: string): Session {
    const id = randomUUID();
    const session = new Session(id, storeCode, this.#logger.child({ sessionId: id }), this.#publish);
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
    this.#sessions.delete(session.id);
    const hadMedia = session.media !== undefined;
    await session.close(reason, graceful);
    if (hadMedia) activeSessions.dec();
  }

  async closeAll(reason: EndReason): Promise<void> {
    clearInterval(this.#sweeper);
    await Promise.all([...this.#sessions.values()].map((s) => this.end(s, reason, false)));
  }

  #sweep(): void {
    const cutoff = Date.now() - this.#unjoinedTtlMs;
    for (const session of this.#sessions.values()) {
      if (!session.media && session.createdAt < cutoff) void this.end(session, EndReason.NEVER_JOINED, false);
    }
  }
}
