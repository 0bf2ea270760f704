// The in-process live-event bus: one node on its own (the embedded default),
// and the local half of a bus that spans nodes.
import type { LiveEnvelope } from "@parley/proto/live";
import type { Logger } from "pino";
import { type LiveBus, type LiveHandler, topicsOf, type Unsubscribe } from "./LiveBus.ts";
import { LiveMessage } from "./LiveMessage.ts";

export class LocalLiveBus implements LiveBus {
  readonly #topics = new Map<string, Set<LiveHandler>>();
  readonly #logger: Logger;
  /**
   * Envelopes published by a subscriber while another is being delivered
   * wait here: delivering them at once would let the later subscribers of
   * the first envelope see the second one first.
   */
  readonly #pending: LiveMessage[] = [];
  #delivering = false;
  #closed = false;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  publish(envelope: LiveEnvelope): void {
    this.deliver(new LiveMessage(envelope));
  }

  /** Delivers an already wrapped message (one that came from another node). */
  deliver(message: LiveMessage): void {
    if (this.#closed) return;
    this.#pending.push(message);
    if (this.#delivering) return;
    this.#delivering = true;
    try {
      for (let next = this.#pending.shift(); next; next = this.#pending.shift()) this.#deliverNow(next);
    } finally {
      this.#delivering = false;
    }
  }

  subscribe(topic: string, handler: LiveHandler): Unsubscribe {
    let handlers = this.#topics.get(topic);
    if (!handlers) this.#topics.set(topic, (handlers = new Set()));
    // Each subscription is its own entry, so one handler may hold several.
    const entry: LiveHandler = (message) => handler(message);
    handlers.add(entry);
    return () => {
      const current = this.#topics.get(topic);
      if (!current?.delete(entry)) return;
      if (current.size === 0) this.#topics.delete(topic);
    };
  }

  subscribers(topic: string): number {
    return this.#topics.get(topic)?.size ?? 0;
  }

  /** One node on its own: nothing it could miss, ever. */
  hearingSince(): number | undefined {
    return 0;
  }

  close(): void {
    this.#closed = true;
    this.#topics.clear();
    this.#pending.length = 0;
  }

  #deliverNow(message: LiveMessage): void {
    for (const topic of topicsOf(message.envelope)) {
      const handlers = this.#topics.get(topic);
      if (!handlers) continue;
      for (const handler of handlers) {
        try {
          handler(message);
        } catch (err) {
          this.#logger.error(
            { err, topic, sessionId: message.sessionId, kind: message.event?.kind.case },
            "live-event subscriber threw",
          );
        }
      }
    }
  }
}
