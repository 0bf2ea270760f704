// Where a new conversation lives. Its media (ICE, DTLS, the SFU's router)
// stays on one node for its whole life, so placement happens once, when the
// session is created: on the node with the most room among those whose
// speech workers recognise the store's language. When that is another
// node, the session is handed over through Redis (a single-use record the
// owner picks up at the customer's join) and the customer is given that
// node's URL to connect to. A socket that reaches the wrong node anyway is
// answered with WRONG_NODE and the right URL: a redirect, not a proxy, so
// that no node relays another node's signalling or media.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Redis } from "ioredis";
import type { Store } from "../session/Session.ts";
import { type NodeDirectory, type NodeInfo, type Placement, placeSession } from "./NodeDirectory.ts";

/** A session created on one node for another: what the owner needs at the join. */
export interface HandedOverSession {
  sessionId: string;
  store: Store;
  /**
   * The address that created it: the owner counts the session against that
   * client's cap (absent in a record from a node of an older release).
   */
  clientIp?: string;
}

export interface SessionPlacement {
  /**
   * The node with the most room (this one preferred on a tie) among those
   * that recognise `language`; or why none: every such node is full or
   * draining, or no node recognises the language.
   */
  choose(language?: string): Promise<Placement>;
  /** Hands a session to `nodeId`; it is picked up there at the join, once, within `ttlMs`. */
  handOver(nodeId: string, session: HandedOverSession, ttlMs: number): Promise<void>;
  /** A session handed to this node, taken once: undefined when there is none (or it was taken). */
  claim(sessionId: string): Promise<HandedOverSession | undefined>;
  /** Where customers reach `nodeId`: undefined when it is not alive, null when it has no address of its own. */
  urlOf(nodeId: string): Promise<string | null | undefined>;
}

/** One node on its own: everything is placed here. */
export class LocalPlacement implements SessionPlacement {
  readonly #directory: NodeDirectory;
  readonly #selfId: string;

  constructor(directory: NodeDirectory, selfId: string) {
    this.#directory = directory;
    this.#selfId = selfId;
  }

  async choose(language?: string): Promise<Placement> {
    return placeSession([this.#directory.self()], this.#selfId, language);
  }

  async handOver(nodeId: string): Promise<void> {
    throw new Error(`one node alone cannot hand a session to ${nodeId}`);
  }

  async claim(): Promise<HandedOverSession | undefined> {
    return undefined;
  }

  async urlOf(nodeId: string): Promise<string | null | undefined> {
    return (await this.#directory.list()).find((n) => n.nodeId === nodeId)?.publicUrl;
  }
}

/** Many nodes sharing Redis: the directory's heartbeats, and hand-overs as expiring keys. */
export class RedisPlacement implements SessionPlacement {
  readonly #directory: NodeDirectory;
  readonly #redis: Redis;
  readonly #selfId: string;
  readonly #prefix: string;

  constructor(options: { directory: NodeDirectory; redis: Redis; selfId: string; prefix?: string }) {
    this.#directory = options.directory;
    this.#redis = options.redis;
    this.#selfId = options.selfId;
    this.#prefix = options.prefix ?? "parley:";
  }

  /**
   * This node's own state is always its fresh local one (Redis may lag a
   * heartbeat, or have come back empty). With Redis unreachable, this node
   * decides alone: it serves customers itself rather than refuse them all;
   * a language it does not recognise is then refused for now, not for good
   * (another node may recognise it).
   */
  async choose(language?: string): Promise<Placement> {
    const self = this.#directory.self();
    let others: NodeInfo[];
    try {
      others = (await this.#directory.list()).filter((n) => n.nodeId !== self.nodeId);
    } catch {
      const alone = placeSession([self], this.#selfId, language);
      return alone.node ? alone : { refusal: "full" };
    }
    return placeSession([self, ...others], this.#selfId, language);
  }

  async handOver(nodeId: string, session: HandedOverSession, ttlMs: number): Promise<void> {
    await this.#redis.set(this.#key(nodeId, session.sessionId), JSON.stringify(session), "PX", ttlMs);
  }

  async claim(sessionId: string): Promise<HandedOverSession | undefined> {
    const value = await this.#redis.getdel(this.#key(this.#selfId, sessionId));
    return value ? (JSON.parse(value) as HandedOverSession) : undefined;
  }

  async urlOf(nodeId: string): Promise<string | null | undefined> {
    return (await this.#directory.list()).find((n) => n.nodeId === nodeId)?.publicUrl;
  }

  #key(nodeId: string, sessionId: string): string {
    return `${this.#prefix}handover:${nodeId}:${sessionId}`;
  }
}

/**
 * The session's node is alive but has no address of its own to send the
 * customer to: it is not taken from that node (never two nodes running one
 * conversation); the app tries again, and the load balancer's affinity
 * brings it back there.
 */
export const unreachableOwner = () =>
  new ParleyError(ErrorCode.UNAVAILABLE, "this session lives on a node not reachable from here; try again", {
    retryable: true,
    retryAfterMs: 1_000,
  });

/**
 * Redis (the node directory, the hand-overs) did not answer: where the
 * session lives is unknown for now. Not "gone": that would have this node
 * adopt a conversation another node still runs, or call a live one unknown.
 */
export const placementUnknown = (cause: unknown) =>
  new ParleyError(ErrorCode.UNAVAILABLE, "cannot tell where this session lives now; try again", {
    retryable: true,
    retryAfterMs: 1_000,
    cause,
  });

/** http(s)://host → ws(s)://host/ws */
export const wsUrlOf = (publicUrl: string) => `${publicUrl.replace(/^http/, "ws")}/ws`;
