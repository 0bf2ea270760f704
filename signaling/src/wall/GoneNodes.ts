// Which nodes have left the cluster, by evidence that a Redis outage cannot
// fake. During an outage every node's directory key expires (three missed
// heartbeats), and the first reads after it come back list only the nodes
// that have beaten since: a successful read, yet an incomplete one. So:
//   - a read that does not list this node itself proves nothing (this node
//     beats too: missing, the directory is not whole yet);
//   - a node is gone only when missing from two reads at least
//     NODE_GONE_CONFIRM_MS apart, and from every read between, with no failed
//     read and no break in hearing the bus in between: time enough for a node
//     back from the outage to reconnect and beat again.
import { NODE_EXPIRY_HEARTBEATS, NODE_HEARTBEAT_MS } from "../cluster/NodeDirectory.ts";

/** More than a node's key lives without a beat: a node still alive has beaten again since. */
export const NODE_GONE_CONFIRM_MS = (NODE_EXPIRY_HEARTBEATS + 1) * NODE_HEARTBEAT_MS;

/** One look at the directory. */
export interface DirectoryRead {
  /** The node ids listed; undefined when the read failed. */
  listed: readonly string[] | undefined;
  startedAtMs: number;
  answeredAtMs: number;
  /**
   * The bus's hearingSince() throughout the read; undefined when it was not
   * hearing, or started hearing anew during the read.
   */
  hearingSince: number | undefined;
}

export class GoneNodes {
  readonly #selfId: string;
  readonly #confirmMs: number;
  /** Per watched node missing from every read since: when the first of those reads was answered. */
  readonly #missingSince = new Map<string, number>();
  /** The last read's list; undefined while nothing can be concluded. */
  #listed: ReadonlySet<string> | undefined;
  #readStartedAtMs = 0;
  #hearingSince: number | undefined;

  constructor(selfId: string, confirmMs = NODE_GONE_CONFIRM_MS) {
    this.#selfId = selfId;
    this.#confirmMs = confirmMs;
  }

  /** Takes one read in; `watched`: the nodes whose absence matters (those of live conversations). */
  observe(read: DirectoryRead, watched: ReadonlySet<string>): void {
    if (read.hearingSince === undefined || read.hearingSince !== this.#hearingSince) this.#reset();
    this.#hearingSince = read.hearingSince;
    if (read.hearingSince === undefined || !read.listed?.includes(this.#selfId)) {
      this.#reset();
      return;
    }
    const listed = new Set(read.listed);
    for (const id of this.#missingSince.keys()) if (listed.has(id) || !watched.has(id)) this.#missingSince.delete(id);
    for (const id of watched)
      if (!listed.has(id) && !this.#missingSince.has(id)) this.#missingSince.set(id, read.answeredAtMs);
    this.#listed = listed;
    this.#readStartedAtMs = read.startedAtMs;
  }

  /** Whether `nodeId` has left the cluster, by the reads so far; false when they cannot tell. */
  gone(nodeId: string): boolean {
    if (!this.#listed || this.#listed.has(nodeId)) return false;
    const since = this.#missingSince.get(nodeId);
    return since !== undefined && this.#readStartedAtMs - since >= this.#confirmMs;
  }

  #reset(): void {
    this.#missingSince.clear();
    this.#listed = undefined;
  }
}
