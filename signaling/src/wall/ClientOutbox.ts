// The queue of one dashboard that cannot keep up. While a dashboard reads
// fast enough it shares uWS's pub/sub fan-out with every other (WallHub);
// once its socket buffers too much it gets this queue instead, which applies
// the policy, in order:
//   1. coalesce: a newer partial of a transcript segment replaces the queued
//      one (so does the segment's final); a newer monitor report replaces the
//      queued one;
//   2. drop partials: past `dropPartialsBytes` queued, every queued partial is
//      dropped and new ones are not queued until the queue is empty again
//      (the client is then told how many it missed);
//   3. close: finals, scores, ends, AI turns and responses are never dropped;
//      when they alone exceed `closeBytes` the caller closes the connection,
//      and the dashboard reconnects to a fresh snapshot.
// Delivery order is publication order (a coalesced partial takes the place
// of the newest, not of the one it replaces), so per-session sequence
// numbers still only grow.

export interface OutboxLimits {
  dropPartialsBytes: number;
  closeBytes: number;
}

/** What happened to a pushed frame. */
export type OutboxResult = "queued" | "dropped" | "overflow";

interface Entry {
  frame: Uint8Array | undefined; // undefined once replaced or dropped
  /** Replaceable by a newer frame with the same key (partials, monitor reports). */
  key: string | undefined;
  replaceable: boolean;
}

export class ClientOutbox {
  readonly #limits: OutboxLimits;
  #entries: Entry[] = [];
  #head = 0;
  /** The queued replaceable entry of each key. */
  readonly #replaceable = new Map<string, Entry>();
  #bytes = 0;
  #essentialBytes = 0;
  #dropping = false;
  #dropped = 0;

  constructor(limits: OutboxLimits) {
    this.#limits = limits;
  }

  /** Bytes waiting (replaced and dropped frames do not count). */
  get bytes(): number {
    return this.#bytes;
  }

  get empty(): boolean {
    return this.#bytes === 0;
  }

  /** Whether partials are being dropped (stage 2). */
  get dropping(): boolean {
    return this.#dropping;
  }

  /**
   * Queues a frame. `key`: the item it updates (a transcript segment, the
   * monitor); `replaceable`: it may be coalesced or dropped (partials); a
   * frame that is not replaceable still removes a queued replaceable one of
   * the same key (a final supersedes its partial).
   */
  push(frame: Uint8Array, key?: string, replaceable = false): OutboxResult {
    if (key !== undefined) {
      const previous = this.#replaceable.get(key);
      if (previous) {
        this.#discard(previous);
        this.#replaceable.delete(key);
      }
    }
    if (replaceable) {
      if (this.#dropping) {
        this.#dropped++;
        return "dropped";
      }
      const entry: Entry = { frame, key, replaceable: true };
      this.#entries.push(entry);
      this.#bytes += frame.byteLength;
      if (key !== undefined) this.#replaceable.set(key, entry);
      if (this.#bytes > this.#limits.dropPartialsBytes) {
        this.#dropAllReplaceable();
        return "dropped";
      }
      return "queued";
    }
    this.#entries.push({ frame, key: undefined, replaceable: false });
    this.#bytes += frame.byteLength;
    this.#essentialBytes += frame.byteLength;
    if (this.#essentialBytes > this.#limits.closeBytes) return "overflow";
    if (this.#bytes > this.#limits.dropPartialsBytes) this.#dropAllReplaceable();
    return "queued";
  }

  /** The next frame to send, or undefined when empty. */
  shift(): Uint8Array | undefined {
    while (this.#head < this.#entries.length) {
      const entry = this.#entries[this.#head++]!;
      const frame = entry.frame;
      if (!frame) continue;
      this.#bytes -= frame.byteLength;
      if (!entry.replaceable) this.#essentialBytes -= frame.byteLength;
      else if (entry.key !== undefined && this.#replaceable.get(entry.key) === entry)
        this.#replaceable.delete(entry.key);
      this.#compact();
      return frame;
    }
    this.#compact();
    return undefined;
  }

  /**
   * Partials dropped since the last call, once the queue has emptied (the
   * dropping stage ends there); 0 otherwise.
   */
  takeDropped(): number {
    if (!this.empty) return 0;
    this.#dropping = false;
    const n = this.#dropped;
    this.#dropped = 0;
    return n;
  }

  #dropAllReplaceable(): void {
    this.#dropping = true;
    for (const entry of this.#replaceable.values()) {
      this.#discard(entry);
      this.#dropped++;
    }
    this.#replaceable.clear();
  }

  #discard(entry: Entry): void {
    if (!entry.frame) return;
    this.#bytes -= entry.frame.byteLength;
    entry.frame = undefined;
  }

  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
