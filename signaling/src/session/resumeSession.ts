// A customer whose node restarted mid-conversation reconnects with the token
// it holds. The new process knows nothing of the session; the records
// database does: the session is taken up again with the transcript stored so
// far, the questions already asked, and its event sequence continued.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Records } from "@parley/records";
import { placementUnknown, type SessionPlacement, unreachableOwner, wsUrlOf } from "../cluster/SessionPlacement.ts";
import type { StoreDirectory } from "../stores/StoreDirectory.ts";
import { noRoom } from "./nodeRoom.ts";
import type { Session } from "./Session.ts";
import type { SessionOrigin, SessionRegistry } from "./SessionRegistry.ts";

export interface ResumeDeps {
  records: Records;
  stores: StoreDirectory;
  sessions: SessionRegistry;
  /** Which nodes are alive (a session still live on another node is not taken from it). */
  placement: SessionPlacement;
  nodeId: string;
  /** Conversations older than this are not resumed (they would have ended by their maximum duration). */
  maxAgeMs: number;
  /** The node is shutting down: it adopts nothing (see nodeRoom). */
  draining: () => boolean;
}

/**
 * The session taken up again, or undefined when there is nothing to resume
 * (unknown, ended, too old). A session still live on another node is not
 * taken from it: the socket is sent there (WRONG_NODE), or told to try again
 * (UNAVAILABLE) when that node has no address of its own; one whose node is
 * gone (it crashed, or came back under another name) is adopted here,
 * unless this node is full or draining (UNAVAILABLE: the app tries again).
 * `holdSlot` gives the per-client slot the session holds; it throws when the
 * client has none left.
 */
export async function resumeSession(
  deps: ResumeDeps,
  sessionId: string,
  holdSlot: () => SessionOrigin | undefined = () => undefined,
): Promise<Session | undefined> {
  const stored = await deps.records.resumable(sessionId, deps.maxAgeMs);
  if (!stored) return undefined;
  if (stored.nodeId && stored.nodeId !== deps.nodeId) {
    const url = await deps.placement.urlOf(stored.nodeId).catch((err: unknown) => {
      throw placementUnknown(err);
    });
    if (url)
      throw new ParleyError(ErrorCode.WRONG_NODE, "this session lives on another node", { redirectUrl: wsUrlOf(url) });
    if (url === null) throw unreachableOwner();
  }
  const store = await deps.stores.find(stored.storeCode);
  if (!store) return undefined;
  // Another socket may have resumed it while we read.
  const existing = deps.sessions.get(sessionId);
  if (existing) return existing;
  const refusal = noRoom({ full: deps.sessions.full, draining: deps.draining() });
  if (refusal) throw refusal;
  const session = deps.sessions.create(sessionId, store, holdSlot(), stored);
  session.logger.info(
    { restoredSegments: stored.segments.length, askedQuestions: stored.askedQuestions.length },
    "session resumed after a restart of its node",
  );
  return session;
}
