// The node's connection for state shared with the other nodes: the node
// directory's heartbeats, hand-overs and rate-limit counts. Commands fail
// fast while Redis is away (no offline queue): rate limits then count
// locally, placement keeps sessions here.
import { Redis } from "ioredis";
import type { Logger } from "pino";

export interface SharedStateRedisOptions {
  url: string;
  password?: string | undefined;
  nodeId: string;
  logger: Logger;
  /**
   * How long Redis may leave a command unanswered before the connection is
   * taken for dead and replaced (default 2 s: each is a single key's work).
   */
  replyTimeoutMs?: number;
}

export function sharedStateRedis(options: SharedStateRedisOptions): Redis {
  const client = new Redis(options.url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: `parley:${options.nodeId}:state`,
    // A silent partition (packets dropped, no reset) would hold every session creation on its
    // rate-limit count for as long as TCP takes to give up, many minutes: a socket that answers
    // nothing for this long while a command waits is destroyed, and ioredis connects anew.
    socketTimeout: options.replyTimeoutMs ?? 2_000,
    // After a failover the old primary answers READONLY while the connection stays up: every
    // heartbeat, hand-over and rate-limit count would fail until a restart. Reconnect instead.
    reconnectOnError: (err) => err.message.startsWith("READONLY"),
    ...(options.password ? { password: options.password } : {}),
  });
  client.on("error", (err: Error) => options.logger.warn({ err: err.message }, "redis (shared state) error"));
  return client;
}
