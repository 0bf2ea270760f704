// One dashboard connection: who it is, what it watches, and how frames reach
// it. A dashboard that keeps up is on the fast lane: subscribed to its
// scope's uWS topics, it receives each event from uWS's own C++ fan-out with
// every other dashboard. One whose socket buffers more than the soft limit is
// moved to the slow lane: unsubscribed, it gets its frames from its own
// ClientOutbox (coalescing, then dropping partials, then closing) as fast as
// it drains, and returns to the fast lane once it has caught up. Neither lane
// ever waits for a slow dashboard: the others and the audio path never notice.
import type { DashboardCaller } from "../auth/userToken.ts";
import { TokenBucket } from "../edge/TokenBucket.ts";
import { ClientOutbox, type OutboxLimits } from "./ClientOutbox.ts";
import { serverFrame } from "./frames.ts";
import { wallClients, wallClientsClosed, wallPartialsDropped } from "./metrics.ts";
import { type WallScope, wallTopic } from "./scope.ts";

/** What the hub needs of a socket (uWS in production). */
export interface DashboardSocket {
  send(frame: Uint8Array): void;
  bufferedAmount(): number;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  close(code: number, reason: string): void;
}

/** WebSocket close codes of dashboards (4000–4999 are the application's). */
export const WallCloseCode = {
  /** Could not keep up even with finals: reconnect for a fresh snapshot. */
  TOO_SLOW: 4008,
  /** Read nothing for too long while data waited. */
  STALLED: 4009,
  /** No valid token: a bad or expired one (also one that expires while connected), or none within HELLO_TIMEOUT_MS. */
  UNAUTHENTICATED: 4001,
  /** Kept sending while every request was refused for the rate (like HTTP 429; the customer socket's code too). */
  RATE_LIMITED: 4029,
} as const;

/** A connection must say who it is within this time. */
export const HELLO_TIMEOUT_MS = 10_000;

/**
 * Requests per dashboard: a wall sends a handful on connect and on each
 * filter change, so a burst of 20 and 5 a second leave people untouched
 * while one token cannot pile up history queries (tiles, 30-day trends).
 */
export const REQUEST_BURST = 20;
export const REQUESTS_PER_SECOND = 5;
/**
 * Frames refused for the rate in a row after which the socket is closed: a
 * dashboard that honours its refusals' retry hints never gets near it, while
 * a flood costs the node this many answers, not one per frame forever.
 */
export const REFUSALS_BEFORE_CLOSE = 4 * REQUEST_BURST;
/** Accepted requests not answered yet: the edge's bound, as for customers' sockets. */
export { MAX_REQUESTS_IN_FLIGHT } from "../edge/requestsInFlight.ts";

export interface WallClientLimits extends OutboxLimits {
  /** Buffered bytes above which the client leaves the fast lane. */
  softLimitBytes: number;
  /** The slow lane sends while less than this is buffered. */
  lowWaterBytes: number;
  stallTimeoutMs: number;
}

export type Lane = "fast" | "slow";

export class WallClient {
  readonly id: number;
  readonly socket: DashboardSocket;
  readonly connectedAtMs: number;
  caller: DashboardCaller | undefined;
  /** The token it said hello with, checked again while it stays (an expired one closes it). */
  token: string | undefined;
  scope: WallScope | undefined;
  /** Topics of its scope (plus the monitor's while watching), subscribed while on the fast lane. */
  #topics: string[] = [];
  #lane: Lane = "fast";
  readonly #outbox: ClientOutbox;
  readonly #limits: WallClientLimits;
  readonly #now: () => number;
  readonly #onLane: (client: WallClient, lane: Lane) => void;
  #lastProgressAtMs: number;
  #closed = false;
  /** Requests are handled one at a time, in order. */
  queue: Promise<void> = Promise.resolve();
  /** Requests accepted onto the queue and not answered yet. */
  inFlight = 0;
  readonly requestRate = new TokenBucket(REQUESTS_PER_SECOND, REQUEST_BURST);
  /** Frames refused for the rate since the last one taken: a run of REFUSALS_BEFORE_CLOSE closes the socket. */
  refusedInARow = 0;
  /** Cleanup of what the client holds (an admin's listener), run on close. */
  readonly disposers = new Set<() => void>();

  constructor(options: {
    id: number;
    socket: DashboardSocket;
    limits: WallClientLimits;
    now: () => number;
    onLane: (client: WallClient, lane: Lane) => void;
  }) {
    this.id = options.id;
    this.socket = options.socket;
    this.#limits = options.limits;
    this.#now = options.now;
    this.#onLane = options.onLane;
    this.#outbox = new ClientOutbox(options.limits);
    this.#lastProgressAtMs = options.now();
    this.connectedAtMs = options.now();
    // Its own topic keeps uWS's subscriber alive while it has no other: uWS
    // frees a socket's subscriber (and its undelivered pub/sub frames) when
    // it leaves its last topic, which moving to the slow lane would do.
    options.socket.subscribe(wallTopic.client(this.id));
    wallClients.inc({ lane: "fast" });
  }

  get lane(): Lane {
    return this.#lane;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get topics(): readonly string[] {
    return this.#topics;
  }

  get queuedBytes(): number {
    return this.#outbox.bytes;
  }

  /** Whether a frame published on these topics is for this client. */
  wants(topics: readonly string[]): boolean {
    for (const t of this.#topics) if (topics.includes(t)) return true;
    return false;
  }

  /** Replaces the topics it watches. Synchronous, so no event falls between the old set and the new. */
  setTopics(topics: string[]): void {
    if (this.#lane === "fast") {
      for (const t of this.#topics) if (!topics.includes(t)) this.socket.unsubscribe(t);
      for (const t of topics) if (!this.#topics.includes(t)) this.socket.subscribe(t);
    }
    this.#topics = topics;
  }

  /**
   * Sends a frame addressed to this client alone (a response), or one the
   * hub fans out while the client is on the slow lane. `key` and
   * `replaceable` as in ClientOutbox.push.
   */
  send(frame: Uint8Array, key?: string, replaceable = false): void {
    if (this.#closed) return;
    if (this.#lane === "fast") {
      this.socket.send(frame);
      return;
    }
    const result = this.#outbox.push(frame, key, replaceable);
    if (result === "dropped") wallPartialsDropped.inc();
    if (result === "overflow") {
      this.close(WallCloseCode.TOO_SLOW, "too slow for this dashboard's updates: reconnect for a fresh snapshot");
      wallClientsClosed.inc({ reason: "too_slow" });
      return;
    }
    this.flush();
  }

  /** Fast lane: is it falling behind? Moves it to the slow lane if so. */
  checkBackpressure(): void {
    if (this.#closed || this.#lane !== "fast") return;
    if (this.socket.bufferedAmount() <= this.#limits.softLimitBytes) return;
    for (const t of this.#topics) this.socket.unsubscribe(t);
    this.#setLane("slow");
    this.#lastProgressAtMs = this.#now();
  }

  /** Closed when it has not said who it is in time. */
  checkHello(): void {
    if (this.#closed || this.caller || this.#now() - this.connectedAtMs <= HELLO_TIMEOUT_MS) return;
    this.close(WallCloseCode.UNAUTHENTICATED, "say hello with a valid token first");
  }

  /** Slow lane: closed when it has read nothing for too long while data waits. */
  checkStalled(): void {
    if (this.#closed || this.#lane !== "slow") return;
    if (this.#now() - this.#lastProgressAtMs <= this.#limits.stallTimeoutMs) return;
    this.close(WallCloseCode.STALLED, "stalled: nothing read for too long");
    wallClientsClosed.inc({ reason: "stalled" });
  }

  /** The socket drained (uWS "drain"): send what waits. */
  onDrain(): void {
    this.#lastProgressAtMs = this.#now();
    if (this.#lane === "slow") this.flush();
  }

  /** Sends queued frames while the socket has room; back to the fast lane once caught up. */
  flush(): void {
    if (this.#closed || this.#lane !== "slow") return;
    const { lowWaterBytes } = this.#limits;
    while (this.socket.bufferedAmount() < lowWaterBytes) {
      const frame = this.#outbox.shift();
      if (!frame) break;
      this.socket.send(frame);
    }
    if (!this.#outbox.empty) return;
    const dropped = this.#outbox.takeDropped();
    if (dropped > 0) this.socket.send(serverFrame({ kind: { case: "partialsDropped", value: { count: dropped } } }));
    if (this.socket.bufferedAmount() >= lowWaterBytes) return;
    for (const t of this.#topics) this.socket.subscribe(t);
    this.#setLane("fast");
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.socket.close(code, reason);
    this.onClosed();
  }

  /** The socket is gone (closed by either side). Safe to call twice. */
  onClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    wallClients.dec({ lane: this.#lane });
    this.#onLane(this, "fast"); // leaves the hub's slow set
    for (const dispose of this.disposers) {
      try {
        dispose();
      } catch {
        /* a disposer's failure must not keep the others from running */
      }
    }
    this.disposers.clear();
  }

  #setLane(lane: Lane): void {
    wallClients.dec({ lane: this.#lane });
    wallClients.inc({ lane });
    this.#lane = lane;
    this.#onLane(this, lane);
  }
}
