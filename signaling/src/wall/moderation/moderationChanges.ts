// A wall's snapshot reads the moderation state (decisions, settings, the
// public screen's feedback) before its client joins the topics on which
// changes are sent: a change made on any node in between reaches it by
// neither. The state read again after the join, against the snapshot's,
// gives the frames that bring the client up to date (sending one it already
// had changes nothing: each frame sets a state).
import type { PublicFeedback } from "@parley/proto/wall";
import { type ServerMessageInit, serverFrame } from "../frames.ts";
import type { BusinessModerationSettings, ModerationDecision } from "./ModerationStore.ts";

export interface ModerationView {
  decisions: Pick<ModerationDecision, "sessionId" | "status" | "automatic">[];
  settings: BusinessModerationSettings | undefined;
  publicFeedback: PublicFeedback[];
}

/** The frames that take a client shown `before` to `after`. */
export function moderationChanges(businessId: string, before: ModerationView, after: ModerationView): Uint8Array[] {
  const frames: ServerMessageInit[] = [];
  const decided = new Map(before.decisions.map((d) => [d.sessionId, `${d.status}/${d.automatic}`]));
  const states = after.decisions.filter((d) => decided.get(d.sessionId) !== `${d.status}/${d.automatic}`);
  if (states.length > 0)
    frames.push({
      kind: {
        case: "moderation",
        value: {
          businessId,
          states: states.map(({ sessionId, status, automatic }) => ({ sessionId, status, automatic })),
        },
      },
    });
  if (after.settings && !sameSettings(before.settings, after.settings))
    frames.push({ kind: { case: "moderation", value: { businessId, settings: after.settings } } });
  const shown = new Map(before.publicFeedback.map((p) => [p.sessionId, p.text]));
  const kept = new Set(after.publicFeedback.map((p) => p.sessionId));
  for (const { sessionId } of before.publicFeedback)
    if (!kept.has(sessionId)) frames.push({ kind: { case: "publicWithdrawn", value: { sessionId } } });
  // Oldest first: a screen puts each item on top.
  for (const item of [...after.publicFeedback].reverse())
    if (shown.get(item.sessionId) !== item.text) frames.push({ kind: { case: "publicFeedback", value: item } });
  return frames.map(serverFrame);
}

function sameSettings(a: BusinessModerationSettings | undefined, b: BusinessModerationSettings): boolean {
  return (
    a !== undefined &&
    a.autoApproveAbove === b.autoApproveAbove &&
    a.redactedPhrases.length === b.redactedPhrases.length &&
    a.redactedPhrases.every((p, i) => p === b.redactedPhrases[i])
  );
}
