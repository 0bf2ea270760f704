// Moderation for public screens: decisions reach the business's wall; only
// approved feedback, redacted, reaches public screens.
import { fromBinary } from "@bufbuild/protobuf";
import { ModerationStatus, type ServerMessage, ServerMessageSchema } from "@parley/proto/wall";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { MemoryWallHistory } from "../../src/wall/history/MemoryWallHistory.ts";
import { MemoryModerationStore } from "../../src/wall/moderation/ModerationStore.ts";
import { redact, WallModeration } from "../../src/wall/moderation/WallModeration.ts";
import { FakeConversation } from "./events.ts";

const logger = pino({ level: "silent" });
const settle = () => new Promise((r) => setTimeout(r, 20));

function setup() {
  const bus = new LocalLiveBus(logger);
  const history = new MemoryWallHistory({ bus });
  const sent: { topics: readonly string[]; message: ServerMessage }[] = [];
  const moderation = new WallModeration({
    bus,
    store: new MemoryModerationStore(),
    history,
    broadcast: (topics, frame) => sent.push({ topics, message: fromBinary(ServerMessageSchema, frame) }),
    logger,
  });
  const finished = (store: string, score: number, text: string) => {
    const c = new FakeConversation(bus, store, "kafe").start();
    c.segment(1, text, true);
    c.end({ score });
    return c;
  };
  return { bus, history, moderation, sent, finished };
}

describe("moderation", () => {
  it("redacts phrases whole-case-insensitively, leaving the rest", () => {
    expect(redact("Ask for Anna at the till, anna knows", ["anna", "  "])).toBe("Ask for ███ at the till, ███ knows");
    expect(redact("price (a+b) was high", ["(a+b)"])).toBe("price ███ was high");
  });

  it("approves automatically above the threshold, redacted for public screens only", async () => {
    const { moderation, sent, finished } = setup();
    await moderation.setSettings("kafe", {
      $typeName: "parley.wall.v1.ModerationSettings",
      autoApproveAbove: 70,
      redactedPhrases: ["Anna"],
    });
    finished("centrum", 50, "it was fine");
    const good = finished("centrum", 85, "anna at the till was lovely");
    await settle();
    const publicItems = sent.filter((s) => s.message.kind.case === "publicFeedback");
    expect(publicItems).toHaveLength(1);
    expect(publicItems[0]!.topics).toEqual(["p/s/centrum", "p/b/kafe"]);
    const item = publicItems[0]!.message.kind.value as { sessionId: string; text: string };
    expect(item).toMatchObject({ sessionId: good.sessionId, text: "███ at the till was lovely" });
    const decision = sent.find((s) => s.message.kind.case === "moderation" && s.message.kind.value.states.length > 0)!;
    expect(decision.topics).toEqual(["s/centrum", "b/kafe", "all"]);
    expect(await moderation.publicFeedback("kafe", undefined)).toHaveLength(1);
    expect(await moderation.publicFeedback("kafe", new Set(["north"]))).toHaveLength(0);
    expect(await moderation.publicFeedback("other", undefined)).toHaveLength(0);
  });

  it("takes hidden feedback off public screens, and re-redacts when the phrases change", async () => {
    const { moderation, history, sent, finished } = setup();
    const c = finished("centrum", 60, "bert was rude");
    await settle();
    const feedback = (await history.conversation(c.sessionId))!.feedback!;
    await moderation.decide(feedback, ModerationStatus.APPROVED);
    expect(sent.at(-1)?.message.kind.case).toBe("publicFeedback");
    await moderation.setSettings("kafe", {
      $typeName: "parley.wall.v1.ModerationSettings",
      autoApproveAbove: 0,
      redactedPhrases: ["bert"],
    });
    const republished = sent.at(-1)!.message.kind;
    expect(republished.case === "publicFeedback" && republished.value.text).toBe("███ was rude");
    await moderation.decide(feedback, ModerationStatus.HIDDEN);
    expect(sent.at(-1)?.message.kind.case).toBe("publicWithdrawn");
    expect(await moderation.publicFeedback("kafe", undefined)).toHaveLength(0);
  });

  it("refuses to moderate a conversation still going on, and bad settings", async () => {
    const { moderation, history, bus } = setup();
    const live = new FakeConversation(bus, "centrum", "kafe").start();
    live.segment(1, "hello", true);
    const feedback = (await history.conversation(live.sessionId))!.feedback!;
    await expect(moderation.decide(feedback, ModerationStatus.APPROVED)).rejects.toThrow(/ended/);
    await expect(
      moderation.setSettings("kafe", {
        $typeName: "parley.wall.v1.ModerationSettings",
        autoApproveAbove: 101,
        redactedPhrases: [],
      }),
    ).rejects.toThrow(/0..100/);
  });
});
