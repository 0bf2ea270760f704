// The dashboards' hub: one subscriber of the live-event bus that fans every
// event out to the dashboards whose scope it belongs to. Each event becomes
// one frame (the envelope's bytes behind a short header) published once per
// topic (its store, its business, "all"); uWS copies it to every subscribed
// socket in C++ and writes each socket once per event-loop turn, however
// many events that turn carried. Dashboards that fall behind leave that
// shared path for their own queue (WallClient, ClientOutbox).
//
// Frames are published at most once per flush window (16 ms by default, a
// screen's frame): the first event after a quiet window goes out at once,
// later ones wait for the window's end and go out together, so each socket
// is written once per window however many events it carried. A wall is
// watched by people; 16 ms is invisible to them, and under load it turns
// one write per socket per event into one per window.
//
// The hub keeps what is live (LiveConversations) so that a dashboard that
// connects mid-conversation gets a snapshot first, then the updates.
//
// What one node decides for every node's dashboards (a person's moderation
// decision) goes out with broadcastToAllNodes(): a WallBroadcast on the same
// bus, which each node's hub (this one's included) hands to broadcast(). One
// path for one node and for many, ordered with the node's other events, and
// kept in the bus's outbox while Redis is away.
import { create } from "@bufbuild/protobuf";
import { LiveEnvelopeSchema, LiveEventSchema } from "@parley/proto/live";
import type { Logger } from "pino";
import { type LiveBus, liveTopic, type Unsubscribe } from "../live/LiveBus.ts";
import type { LiveMessage } from "../live/LiveMessage.ts";
import { liveFrame } from "./frames.ts";
import { GoneNodes } from "./GoneNodes.ts";
import { LiveConversations } from "./LiveConversations.ts";
import { wallEventsPublished } from "./metrics.ts";
import { nodeLostEnd, type OrphanRules, orphanedConversations } from "./orphanedConversations.ts";
import { topicsOfItem } from "./scope.ts";
import { type DashboardSocket, type Lane, WallClient, type WallClientLimits } from "./WallClient.ts";

export interface WallHubOptions {
  bus: LiveBus;
  /** This node, as the bus's envelopes name it. */
  nodeId: string;
  /** Publishes a frame on a uWS topic (app.publish). */
  publish: (topic: string, frame: Uint8Array) => void;
  logger: Logger;
  limits: Omit<WallClientLimits, "lowWaterBytes"> & { lowWaterBytes?: number };
  /** How often the fast lane's buffers are looked at (also after every soft limit's worth of frames). */
  sweepIntervalMs?: number;
  /** Frames wait at most this long to go out together (0: each at once). */
  flushIntervalMs?: number;
  /** Ends, for this node's dashboards, the conversations of nodes that died (orphanedConversations). */
  orphans?: OrphanRules & {
    /** The nodes in the cluster's directory now (throws when it cannot be read). */
    aliveNodes: () => Promise<readonly string[]>;
    /** How often to look (default 10 s: more than NODE_GONE_CONFIRM_MS, so two looks can confirm a node gone). */
    everyMs?: number;
  };
  now?: () => number;
}

export class WallHub {
  readonly live: LiveConversations;
  readonly #o: WallHubOptions;
  readonly #limits: WallClientLimits;
  readonly #clients = new Set<WallClient>();
  readonly #slow = new Set<WallClient>();
  readonly #now: () => number;
  readonly #unsubscribe: Unsubscribe;
  readonly #sweeper: NodeJS.Timeout;
  #nextId = 1;
  /** Bytes published since the last look at the buffers: bounds what a stalled socket can gather unseen. */
  #publishedSinceSweep = 0;
  #sweepScheduled = false;
  readonly #flushIntervalMs: number;
  /** Frames waiting for the end of the flush window. */
  #pending: { topics: readonly string[]; frame: Uint8Array; key: string | undefined; replaceable: boolean }[] = [];
  #flushTimer: NodeJS.Timeout | undefined;
  #lastFlushAt = Number.NEGATIVE_INFINITY;
  #liveSweptAt = 0;
  readonly #orphanCheck: NodeJS.Timeout | undefined;
  readonly #goneNodes: GoneNodes;
  #checkingOrphans = false;
  #closed = false;

  constructor(options: WallHubOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#limits = {
      ...options.limits,
      lowWaterBytes: options.limits.lowWaterBytes ?? options.limits.softLimitBytes / 4,
    };
    this.#flushIntervalMs = options.flushIntervalMs ?? 16;
    this.live = new LiveConversations({ now: this.#now });
    this.#goneNodes = new GoneNodes(options.nodeId);
    this.#unsubscribe = options.bus.subscribe(liveTopic.admin, (message) => this.#onLive(message));
    this.#sweeper = setInterval(() => this.sweep(), options.sweepIntervalMs ?? 50).unref();
    if (options.orphans) {
      this.#orphanCheck = setInterval(() => void this.endOrphans(), options.orphans.everyMs ?? 10_000).unref();
    }
  }

  /** Ends the conversations no node carries any more (see orphanedConversations), for this node's dashboards. */
  async endOrphans(): Promise<void> {
    const rules = this.#o.orphans;
    if (!rules || this.#checkingOrphans || this.#closed) return;
    this.#checkingOrphans = true;
    try {
      const hearingBefore = this.#o.bus.hearingSince();
      const startedAtMs = this.#now();
      let listed: readonly string[] | undefined;
      try {
        listed = await rules.aliveNodes();
      } catch {
        listed = undefined; // the directory away: only the duration rule
      }
      if (this.#closed) return;
      const now = this.#now();
      // A read across a break in hearing the bus belongs to neither side of it.
      const hearingSince = this.#o.bus.hearingSince();
      const hearing = hearingSince === hearingBefore ? hearingSince : undefined;
      const watched = new Set<string>();
      for (const c of this.live.all()) if (!c.ended) watched.add(c.nodeId);
      this.#goneNodes.observe({ listed, startedAtMs, answeredAtMs: now, hearingSince: hearing }, watched);
      const view = {
        now,
        selfId: this.#o.nodeId,
        hearingSince: hearing,
        gone: (nodeId: string) => this.#goneNodes.gone(nodeId),
      };
      for (const c of orphanedConversations(this.live.all(), view, rules)) {
        this.#o.logger.info(
          { sessionId: c.sessionId, nodeId: c.nodeId, silentMs: now - c.lastEventAtMs },
          "wall: conversation's node is gone, shown as ended",
        );
        this.#onLive(nodeLostEnd(c, now));
      }
    } finally {
      this.#checkingOrphans = false;
    }
  }

  get clients(): number {
    return this.#clients.size;
  }

  get slowClients(): number {
    return this.#slow.size;
  }

  connect(socket: DashboardSocket): WallClient {
    const client = new WallClient({
      id: this.#nextId++,
      socket,
      limits: this.#limits,
      now: this.#now,
      onLane: (c, lane) => this.#onLane(c, lane),
    });
    this.#clients.add(client);
    return client;
  }

  disconnect(client: WallClient): void {
    client.onClosed();
    this.#clients.delete(client);
    this.#slow.delete(client);
  }

  /** Every open client (the token re-check). */
  allClients(): IterableIterator<WallClient> {
    return this.#clients.values();
  }

  /** Clients on any of these topics (admin actions, tests). */
  *clientsOn(topics: readonly string[]): IterableIterator<WallClient> {
    for (const c of this.#clients) if (c.wants(topics)) yield c;
  }

  /**
   * Fans one frame out to every dashboard on these topics: through uWS for
   * the fast lane, through their own queues for the slow one. `key` and
   * `replaceable` say what a slow dashboard's queue may coalesce or drop.
   */
  broadcast(topics: readonly string[], frame: Uint8Array, key?: string, replaceable = false): void {
    if (this.#closed) return;
    if (this.#pending.length > 0 || this.#flushTimer) {
      this.#pending.push({ topics, frame, key, replaceable });
      return;
    }
    const now = performance.now();
    if (now - this.#lastFlushAt < this.#flushIntervalMs) {
      this.#pending.push({ topics, frame, key, replaceable });
      this.#flushTimer = setTimeout(() => this.flush(), this.#lastFlushAt + this.#flushIntervalMs - now);
      return;
    }
    this.#lastFlushAt = now;
    this.#send(topics, frame, key, replaceable);
  }

  /**
   * Fans one frame out to the dashboards of every node (this one's at once,
   * through the bus as its own events are). Other nodes trust the topics as
   * this node made them: nodes of one deployment share one tenancy. With
   * `forgetSessionId`, each node first forgets what it keeps live of that
   * conversation (its customer deleted their data).
   */
  broadcastToAllNodes(businessId: string, topics: readonly string[], frame: Uint8Array, forgetSessionId = ""): void {
    if (this.#closed) return;
    this.#o.bus.publish(
      create(LiveEnvelopeSchema, {
        // No session: seq 0 and no session topic (no customer's socket hears it).
        sessionId: "",
        storeCode: "",
        businessId,
        seq: 0n,
        nodeId: this.#o.nodeId,
        publishedAtMs: BigInt(Date.now()),
        event: create(LiveEventSchema, {
          kind: { case: "wallBroadcast", value: { topics: [...topics], frame, forgetSessionId } },
        }),
      }),
    );
  }

  /**
   * Sends the frames waiting for the window's end, now. Called before a
   * snapshot is taken, so that the snapshot and the frames that follow it
   * meet exactly.
   */
  flush(): void {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#lastFlushAt = performance.now();
    for (const p of pending) this.#send(p.topics, p.frame, p.key, p.replaceable);
  }

  #send(topics: readonly string[], frame: Uint8Array, key: string | undefined, replaceable: boolean): void {
    for (const topic of topics) this.#o.publish(topic, frame);
    if (this.#slow.size > 0)
      for (const client of this.#slow) if (client.wants(topics)) client.send(frame, key, replaceable);
    this.#publishedSinceSweep += frame.byteLength;
    if (this.#publishedSinceSweep > this.#limits.softLimitBytes / 2) this.#scheduleSweep();
  }

  /** Looks at every fast dashboard's buffer and every slow one's progress. */
  sweep(): void {
    this.#publishedSinceSweep = 0;
    for (const client of this.#clients) {
      if (client.lane === "fast") client.checkBackpressure();
      else client.checkStalled();
      client.checkHello();
      if (client.closed) this.disconnect(client);
    }
    // Ended conversations leave the snapshots after minutes: looking every few seconds is plenty.
    if (this.#now() - this.#liveSweptAt > 5_000) {
      this.#liveSweptAt = this.#now();
      this.live.sweep();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    clearInterval(this.#sweeper);
    clearInterval(this.#orphanCheck);
    clearTimeout(this.#flushTimer);
    this.#pending = [];
    for (const client of this.#clients) client.close(1001, "node shutting down");
    this.#clients.clear();
    this.#slow.clear();
  }

  #onLive(message: LiveMessage): void {
    const event = message.event?.kind;
    if (event?.case === "wallBroadcast") {
      // Made by a node for every node's dashboards: not a conversation's event, nothing to keep.
      if (event.value.forgetSessionId) this.live.forget(event.value.forgetSessionId);
      this.broadcast(event.value.topics, event.value.frame);
      return;
    }
    const { envelope } = message;
    const presumedLost = this.live.get(envelope.sessionId)?.endPresumed ?? false;
    const conversation = this.live.apply(message);
    // Its node was taken for gone, yet it speaks: live again (its own event tells the dashboards so).
    if (presumedLost && conversation && !conversation.endPresumed)
      this.#o.logger.info(
        { sessionId: envelope.sessionId, nodeId: envelope.nodeId },
        "wall: conversation shown as lost is heard again",
      );
    // Partials may be coalesced or dropped for a slow dashboard; a final replaces its partial.
    const transcript = event?.case === "transcript" ? event.value : undefined;
    const key = transcript ? `${envelope.sessionId}/${transcript.segmentId}` : undefined;
    wallEventsPublished.inc();
    this.broadcast(
      topicsOfItem(envelope.businessId, envelope.storeCode),
      liveFrame(message.envelopeBytes()),
      key,
      transcript !== undefined && !transcript.isFinal,
    );
  }

  #onLane(client: WallClient, lane: Lane): void {
    if (lane === "slow" && !client.closed) this.#slow.add(client);
    else this.#slow.delete(client);
    if (lane === "slow") this.#o.logger.info({ client: client.id }, "dashboard falls behind: own queue");
  }

  #scheduleSweep(): void {
    if (this.#sweepScheduled) return;
    this.#sweepScheduled = true;
    setImmediate(() => {
      this.#sweepScheduled = false;
      if (!this.#closed) this.sweep();
    });
  }
}
