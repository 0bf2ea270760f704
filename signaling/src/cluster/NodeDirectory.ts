// Which nodes exist, how much room each has and which languages its speech
// workers recognise. A node publishes itself with a heartbeat; session
// creation on any node places the conversation on the node with the most
// room among those that recognise its store's language (a conversation's
// media and speech stream stay on one node).
import { primaryLanguage } from "@parley/inference-bridge";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

export interface NodeInfo {
  nodeId: string;
  /**
   * Where customers reach this node: http(s)://host:port. null when it has no
   * address of its own (no NODE_PUBLIC_URL behind a load balancer): customers
   * reach it only where they loaded the page, so no other node sends them here.
   */
  publicUrl: string | null;
  liveSessions: number;
  maxSessions: number;
  /** Shutting down: takes no new sessions. */
  draining: boolean;
  /**
   * Primary subtags ("en", "sv") of the languages its speech workers
   * recognise (AsrWorkerPool.servedLanguages). Absent: it may recognise any
   * (a worker that lists none or has not described itself yet, or a node of
   * an older release).
   */
  languages?: string[];
  updatedAtMs: number;
}

/** Why no node was chosen: every node that recognises the language is full or draining, or none recognises it. */
export type PlacementRefusal = "full" | "language_unsupported";

/** The node a new conversation goes to, or why there is none. */
export type Placement = { node: NodeInfo; refusal?: undefined } | { node?: undefined; refusal: PlacementRefusal };

export interface NodeDirectory {
  /** Starts announcing this node (once it listens). */
  start(): Promise<void>;
  /** Announces this node's state now (e.g. it started draining). */
  beat(): Promise<void>;
  /** Nodes alive now (this one included). */
  list(): Promise<NodeInfo[]>;
  /** This node's state now, as it would announce it. */
  self(): NodeInfo;
  close(): void;
}

/** Whether `node`'s speech workers recognise `language` (BCP 47; absent: their default), by primary language. */
export function servesLanguage(node: NodeInfo, language: string | undefined): boolean {
  if (!language || !node.languages) return true;
  return node.languages.includes(primaryLanguage(language));
}

/**
 * The node with the most room that takes sessions in `language`, preferring
 * `selfId` on a tie; undefined when all are full. Another node is a
 * candidate only if customers can be sent to it (it has a public URL).
 */
export function pickNode(nodes: NodeInfo[], selfId: string, language?: string): NodeInfo | undefined {
  let best: NodeInfo | undefined;
  let bestRoom = 0;
  for (const node of nodes) {
    if (node.draining) continue;
    if (!servesLanguage(node, language)) continue;
    if (node.nodeId !== selfId && node.publicUrl === null) continue;
    const room = node.maxSessions - node.liveSessions;
    if (room <= 0) continue;
    if (!best || room > bestRoom || (room === bestRoom && node.nodeId === selfId)) {
      best = node;
      bestRoom = room;
    }
  }
  return best;
}

/**
 * pickNode, with the reason when there is no node: the language is refused
 * for good when no node that the customer can be placed on from here (this
 * one, or one with a public URL), full and draining ones included,
 * recognises it; otherwise the customer may try again.
 */
export function placeSession(nodes: NodeInfo[], selfId: string, language?: string): Placement {
  const node = pickNode(nodes, selfId, language);
  if (node) return { node };
  const reachable = nodes.filter((n) => n.nodeId === selfId || n.publicUrl !== null);
  return { refusal: reachable.some((n) => servesLanguage(n, language)) ? "full" : "language_unsupported" };
}

/** One node on its own (no REDIS_URL). */
export class SingleNodeDirectory implements NodeDirectory {
  readonly #self: () => NodeInfo;

  constructor(self: () => NodeInfo) {
    this.#self = self;
  }

  async start(): Promise<void> {}

  async beat(): Promise<void> {}

  async list(): Promise<NodeInfo[]> {
    return [this.#self()];
  }

  self(): NodeInfo {
    return this.#self();
  }

  close(): void {}
}

/** How often a node writes itself into the directory. */
export const NODE_HEARTBEAT_MS = 2_000;
/** Heartbeats a node may miss before it drops out of the directory (its key expires). */
export const NODE_EXPIRY_HEARTBEATS = 3;

export interface RedisNodeDirectoryOptions {
  redis: Redis;
  self: () => Omit<NodeInfo, "updatedAtMs">;
  logger: Logger;
  heartbeatMs?: number;
  /** Prefix of the keys. */
  prefix?: string;
}

/**
 * Nodes in Redis: each writes `<prefix>node:<id>` (expiring after three
 * missed heartbeats) and its id into the `<prefix>nodes` set. A node that
 * stops beating (crashed, partitioned) drops out by itself.
 */
export class RedisNodeDirectory implements NodeDirectory {
  readonly #o: Required<RedisNodeDirectoryOptions>;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: RedisNodeDirectoryOptions) {
    this.#o = { heartbeatMs: NODE_HEARTBEAT_MS, prefix: "parley:", ...options };
  }

  async start(): Promise<void> {
    if (this.#timer || this.#closed) return;
    this.#timer = setInterval(() => void this.beat(), this.#o.heartbeatMs).unref();
    await this.beat();
  }

  /** Publishes this node's state now (also called on every change that matters, e.g. draining). */
  async beat(): Promise<void> {
    if (this.#closed) return;
    const info = this.self();
    try {
      await this.#o.redis
        .multi()
        .set(this.#key(info.nodeId), JSON.stringify(info), "PX", this.#o.heartbeatMs * NODE_EXPIRY_HEARTBEATS)
        .sadd(`${this.#o.prefix}nodes`, info.nodeId)
        .exec();
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, "node heartbeat failed");
    }
  }

  async list(): Promise<NodeInfo[]> {
    const ids = await this.#o.redis.smembers(`${this.#o.prefix}nodes`);
    if (ids.length === 0) return [];
    const values = await this.#o.redis.mget(ids.map((id) => this.#key(id)));
    const nodes: NodeInfo[] = [];
    const gone: string[] = [];
    values.forEach((value, i) => {
      if (value) nodes.push(JSON.parse(value) as NodeInfo);
      else gone.push(ids[i]!);
    });
    if (gone.length) void this.#o.redis.srem(`${this.#o.prefix}nodes`, ...gone).catch(() => {});
    return nodes;
  }

  self(): NodeInfo {
    return { ...this.#o.self(), updatedAtMs: Date.now() };
  }

  /** Stops beating and removes this node at once (a clean shutdown). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    const { nodeId } = this.#o.self();
    void this.#o.redis
      .multi()
      .del(this.#key(nodeId))
      .srem(`${this.#o.prefix}nodes`, nodeId)
      .exec()
      .catch(() => {});
  }

  #key(nodeId: string): string {
    return `${this.#o.prefix}node:${nodeId}`;
  }
}
