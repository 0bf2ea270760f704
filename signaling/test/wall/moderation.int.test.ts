// Moderation for public screens, kept in Postgres: decisions reach the
// business's wall; only approved feedback, redacted, reaches public screens;
// automatic approval follows the reward decision records publishes once the
// end is stored; a person's decision stands over the threshold's.
import { fromBinary } from "@bufbuild/protobuf";
import { ModerationStatus, type ServerMessage, ServerMessageSchema } from "@parley/proto/wall";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RecordsWallHistory } from "../../src/wall/history/RecordsWallHistory.ts";
import { RecordsModerationStore } from "../../src/wall/moderation/RecordsModerationStore.ts";
import { redact, WallModeration } from "../../src/wall/moderation/WallModeration.ts";
import { publicTopicsOfItem } from "../../src/wall/scope.ts";
import { logger, type RecordsRig, recordsRig } from "./records-rig.ts";

let rig: RecordsRig;
let moderation: WallModeration;
let history: RecordsWallHistory;
let sent: { topics: readonly string[]; message: ServerMessage }[] = [];
let kafe = "";
const owner = { userId: crypto.randomUUID(), role: "owner" as const };
const settings = (autoApproveAbove: number, redactedPhrases: string[]) => ({
  $typeName: "parley.wall.v1.ModerationSettings" as const,
  autoApproveAbove,
  redactedPhrases,
});

beforeAll(async () => {
  rig = await recordsRig();
  kafe = await rig.addBusiness("Kafé Sol", "centrum");
  history = new RecordsWallHistory(rig.records.wall);
  moderation = new WallModeration({
    bus: rig.bus,
    store: new RecordsModerationStore(rig.records.moderation),
    history,
    broadcast: (topics, frame) => sent.push({ topics, message: fromBinary(ServerMessageSchema, frame) }),
    // One node here: every node's dashboards are this one's.
    broadcastToAllNodes: (_businessId, topics, frame) =>
      sent.push({ topics, message: fromBinary(ServerMessageSchema, frame) }),
    logger,
  });
}, 60_000);
afterAll(async () => {
  moderation?.close();
  await rig?.close();
});

/** A finished conversation, stored and its reward decided (which is when automatic approval looks at it). */
async function finished(store: string, score: number, text: string) {
  const c = await rig.begin(store, kafe);
  c.start();
  c.segment(1, text, true);
  c.end({ score });
  await rig.records.flush();
  return c;
}

describe("moderation", () => {
  it("redacts phrases whole-case-insensitively, leaving the rest", () => {
    expect(redact("Ask for Anna at the till, anna knows", ["anna", "  "])).toBe("Ask for ███ at the till, ███ knows");
    expect(redact("price (a+b) was high", ["(a+b)"])).toBe("price ███ was high");
    // A phrase inside a longer one listed first takes no part of the longer one with it.
    expect(redact("Anna Svensson at the till was rude", ["Anna", "Anna Svensson"])).toBe("███ at the till was rude");
    expect(redact("no phrases", [" "])).toBe("no phrases");
  });

  it("approves automatically above the threshold once the end is stored, redacted for public screens only", async () => {
    sent = [];
    await moderation.setSettings(kafe, settings(70, ["Anna"]), owner);
    await finished("centrum", 50, "it was fine");
    const good = await finished("centrum", 85, "anna at the till was lovely");
    await expect.poll(() => sent.filter((s) => s.message.kind.case === "publicFeedback").length).toBe(1);
    const item = sent.find((s) => s.message.kind.case === "publicFeedback")!;
    expect(item.topics).toEqual(["p/s/centrum", `p/b/${kafe}`]);
    expect(item.message.kind.value).toMatchObject({ sessionId: good.sessionId, text: "███ at the till was lovely" });
    const decision = sent.find((s) => s.message.kind.case === "moderation" && s.message.kind.value.states.length > 0)!;
    expect(decision.topics).toEqual(["s/centrum", `b/${kafe}`, "all"]);
    expect(decision.message.kind.value).toMatchObject({
      states: [{ sessionId: good.sessionId, status: ModerationStatus.APPROVED, automatic: true }],
    });
    expect(await moderation.publicFeedback(kafe, undefined)).toHaveLength(1);
    expect(await moderation.publicFeedback(kafe, new Set(["north"]))).toHaveLength(0);
    expect(await moderation.publicFeedback(rig.demoBusiness, undefined)).toHaveLength(0);
    // It is in Postgres, with the system as the one who decided.
    const [audit] = await rig.records.sql<{ actor: string }[]>`
      select actor from audit_log where action = 'moderation.decide' and target = ${`session:${good.sessionId}`}`;
    expect(audit?.actor).toBe("system");
  });

  it("masks phone numbers and e-mail addresses for public screens, whatever the phrases; the history keeps the words", async () => {
    sent = [];
    await moderation.setSettings(kafe, settings(1, ["Anna"]), owner);
    const said = "Anna was lovely, call me back on +46 70 123 45 67 or mail anna.svensson@example.com";
    const c = await finished("centrum", 60, said);
    await moderation.settled();
    const item = sent.find(
      (s) => s.message.kind.case === "publicFeedback" && s.message.kind.value.sessionId === c.sessionId,
    );
    expect(item?.message.kind.value).toMatchObject({ text: "███ was lovely, call me back on ███ or mail ███" });
    const snapshot = await moderation.publicFeedback(kafe, undefined);
    expect(snapshot.find((p) => p.sessionId === c.sessionId)?.text).toBe(
      "███ was lovely, call me back on ███ or mail ███",
    );
    // What the business's own wall reads: the words as said.
    expect((await history.feedback([c.sessionId]))[0]?.transcript).toBe(said);
  });

  it("says when its automatic approvals are done: a node shutting down waits for them before closing the database", async () => {
    await moderation.setSettings(kafe, settings(70, []), owner);
    const c = await finished("centrum", 92, "the staff were quick and kind");
    await moderation.settled(); // no polling: once settled, the decision is stored
    const [decision] = await moderation.decisions([c.sessionId]);
    expect(decision).toMatchObject({ sessionId: c.sessionId, status: ModerationStatus.APPROVED });
  });

  it("takes hidden feedback off public screens, re-redacts when the phrases change, and a person's decision stands", async () => {
    await moderation.setSettings(kafe, settings(0, []), owner);
    const c = await finished("centrum", 95, "bert was rude");
    const [feedback] = await history.feedback([c.sessionId]);
    sent = [];
    await moderation.decide(feedback!, ModerationStatus.APPROVED, owner);
    expect(sent.at(-1)?.message.kind.case).toBe("publicFeedback");
    await moderation.setSettings(kafe, settings(90, ["bert"]), owner);
    const republished = sent.flatMap((s) =>
      s.message.kind.case === "publicFeedback" && s.message.kind.value.sessionId === c.sessionId
        ? [s.message.kind.value.text]
        : [],
    );
    expect(republished).toEqual(["bert was rude", "███ was rude"]);
    await moderation.decide(feedback!, ModerationStatus.HIDDEN, owner);
    expect(sent.at(-1)?.message.kind.case).toBe("publicWithdrawn");
    expect((await moderation.publicFeedback(kafe, undefined)).map((p) => p.sessionId)).not.toContain(c.sessionId);
    // The reward decided again (a retried end) asks the threshold again: hidden stays hidden, nothing is sent.
    const before = sent.length;
    await rig.records.finalizer.finalize(c.sessionId);
    await moderation.settled(); // the automatic approval the decision set off, if any
    expect(sent.length).toBe(before);
    expect((await moderation.decisions([c.sessionId]))[0]).toMatchObject({ status: ModerationStatus.HIDDEN });
  });

  it("sends approved feedback to public screens again oldest first, so that the newest stays on top", async () => {
    await moderation.setSettings(kafe, settings(0, []), owner);
    for (const text of ["first visit", "second visit", "third visit"]) {
      const c = await finished("centrum", 80, text);
      const [feedback] = await history.feedback([c.sessionId]);
      await moderation.decide(feedback!, ModerationStatus.APPROVED, owner);
    }
    sent = [];
    await moderation.setSettings(kafe, settings(0, ["visit"]), owner);
    const republished = sent.flatMap((s) => (s.message.kind.case === "publicFeedback" ? [s.message.kind.value] : []));
    const ended = republished.map((p) => Number(p.endedAtMs));
    expect(ended).toEqual([...ended].sort((a, b) => a - b));
    expect(republished.at(-1)?.text).toBe("third ███");
  });

  it("answers a stored change of settings as done, and sends the redactions once the feedback can be read", async () => {
    const c = await finished("centrum", 90, "carl was helpful");
    const [feedback] = await history.feedback([c.sessionId]);
    await moderation.decide(feedback!, ModerationStatus.APPROVED, owner);
    let failures = 1;
    const flaky = new WallModeration({
      bus: rig.bus,
      store: new RecordsModerationStore(rig.records.moderation),
      history: {
        ...history,
        feedback: async (ids: readonly string[]) => {
          if (failures-- > 0) throw new Error("connection lost");
          return history.feedback(ids);
        },
      } as RecordsWallHistory,
      broadcast: () => {},
      broadcastToAllNodes: (_businessId, topics, frame) =>
        sent.push({ topics, message: fromBinary(ServerMessageSchema, frame) }),
      logger,
    });
    try {
      sent = [];
      await expect(flaky.setSettings(kafe, settings(0, ["carl"]), owner)).resolves.toMatchObject({
        redactedPhrases: ["carl"],
      });
      await expect
        .poll(
          () =>
            sent.some(
              (s) => s.message.kind.case === "publicFeedback" && s.message.kind.value.text === "███ was helpful",
            ),
          { timeout: 20_000 },
        )
        .toBe(true);
    } finally {
      flaky.close();
    }
  });

  it("takes feedback whose customer deleted it off every public screen of its store and business", async () => {
    sent = [];
    moderation.withdraw({ sessionId: "deleted-session", businessId: kafe, storeCode: "centrum" });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.message.kind).toEqual({
      case: "publicWithdrawn",
      value: expect.objectContaining({ sessionId: "deleted-session" }),
    });
    // The same topics a hidden item leaves.
    expect([...sent[0]!.topics].sort()).toEqual([...publicTopicsOfItem(kafe, "centrum")].sort());
  });

  it("refuses to moderate a conversation still going on, another business's, and bad settings", async () => {
    const live = await rig.begin("centrum", kafe);
    live.start();
    live.segment(1, "hello", true);
    await rig.records.flush();
    const [feedback] = await history.feedback([live.sessionId]);
    await expect(moderation.decide(feedback!, ModerationStatus.APPROVED, owner)).rejects.toThrow(/ended/);
    const done = await finished("centrum", 60, "fine");
    const [theirs] = await history.feedback([done.sessionId]);
    await expect(
      moderation.decide({ ...theirs!, businessId: rig.demoBusiness }, ModerationStatus.APPROVED, owner),
    ).rejects.toThrow(/no such conversation/);
    await expect(moderation.setSettings(kafe, settings(101, []), owner)).rejects.toThrow(/0..100/);
  });
});
