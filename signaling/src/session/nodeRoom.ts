// Whether this node takes on a session it does not hold yet (one handed over
// by another node, or one adopted from the records after its node died). Not
// while it is full (NODE_MAX_SESSIONS), nor while it drains: it would end the
// conversation with SHUTDOWN soon after. The customer's app tries again in a
// moment, and reaches a node with room (through the load balancer, or a
// session placed anew).
import { ErrorCode, ParleyError } from "@parley/proto/errors";

/** How long a customer refused by a full or draining node waits before trying again. */
export const NO_ROOM_RETRY_AFTER_MS = 2_000;

/** Why this node takes on no further session now; undefined when it has room. */
export function noRoom(node: { full: boolean; draining: boolean }): ParleyError | undefined {
  if (!node.full && !node.draining) return undefined;
  return new ParleyError(
    ErrorCode.UNAVAILABLE,
    node.draining ? "this node is shutting down; try again in a moment" : "this node is full; try again in a moment",
    { retryable: true, retryAfterMs: NO_ROOM_RETRY_AFTER_MS },
  );
}
