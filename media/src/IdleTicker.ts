// One timer for every quiet audio timeline in the process. A sender in Opus
// DTX sends one packet per 400 ms of silence; each RTP→PCM decoder that
// registers here is asked, every IDLE_TICK_MS, to fill its timeline with silence
// up to (nearly) real time, so that a pause is heard while it happens rather
// than when the next packet comes. One interval for all streams instead of a
// timer per stream: the per-packet path never touches a timer.

/** The granularity of silence in a pause: far below any turn-taking threshold. */
const IDLE_TICK_MS = 40;

export interface IdleFillable {
  /** Fills the timeline with silence if the sender has gone quiet; cheap when it has not. */
  fillIdle(): void;
}

const members = new Set<IdleFillable>();
let timer: NodeJS.Timeout | undefined;

function tick(): void {
  for (const member of members) member.fillIdle();
}

/** Registers a timeline; the returned function unregisters it. */
export function tickWhileIdle(member: IdleFillable): () => void {
  members.add(member);
  timer ??= setInterval(tick, IDLE_TICK_MS).unref();
  return () => {
    members.delete(member);
    if (members.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };
}
