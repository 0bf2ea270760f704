import { create, fromBinary } from "@bufbuild/protobuf";
import { ModerationStatus, PublicFeedbackSchema, ServerMessageSchema } from "@parley/proto/wall";
import { describe, expect, it } from "vitest";
import { type ModerationView, moderationChanges } from "../../src/wall/moderation/moderationChanges.ts";

const settings = { autoApproveAbove: 0, redactedPhrases: ["anna"] };
const item = (sessionId: string, text: string, endedAtMs: bigint) =>
  create(PublicFeedbackSchema, { sessionId, text, endedAtMs });
const view = (parts: Partial<ModerationView> = {}): ModerationView => ({
  decisions: [],
  settings,
  publicFeedback: [],
  ...parts,
});
const kinds = (frames: Uint8Array[]) => frames.map((f) => fromBinary(ServerMessageSchema, f).kind);

describe("moderation changes between a snapshot and the join", () => {
  it("are none when nothing changed", () => {
    const same = view({
      decisions: [{ sessionId: "s1", status: ModerationStatus.APPROVED, automatic: true }],
      publicFeedback: [item("s1", "good", 1n)],
    });
    expect(moderationChanges("b", same, { ...same, settings: { ...settings } })).toEqual([]);
  });

  it("carry new and changed decisions, new settings, withdrawn items and new ones oldest first", () => {
    const before = view({
      decisions: [{ sessionId: "s1", status: ModerationStatus.APPROVED, automatic: true }],
      publicFeedback: [item("s1", "good", 1n)],
    });
    const after = view({
      decisions: [
        { sessionId: "s1", status: ModerationStatus.HIDDEN, automatic: false },
        { sessionId: "s2", status: ModerationStatus.APPROVED, automatic: false },
      ],
      settings: { autoApproveAbove: 80, redactedPhrases: ["anna"] },
      publicFeedback: [item("s3", "newest", 3n), item("s2", "newer", 2n)],
    });
    const [states, newSettings, withdrawn, first, second, ...rest] = kinds(moderationChanges("b", before, after));
    expect(states?.case === "moderation" && states.value.states.map((s) => [s.sessionId, s.status])).toEqual([
      ["s1", ModerationStatus.HIDDEN],
      ["s2", ModerationStatus.APPROVED],
    ]);
    expect(newSettings?.case === "moderation" && newSettings.value.settings?.autoApproveAbove).toBe(80);
    expect(withdrawn).toEqual({ case: "publicWithdrawn", value: expect.objectContaining({ sessionId: "s1" }) });
    expect([first, second].map((k) => k?.case === "publicFeedback" && k.value.sessionId)).toEqual(["s2", "s3"]);
    expect(rest).toEqual([]);
  });
});
