import { create } from "@bufbuild/protobuf";
import {
  EndReason,
  type LiveEnvelope,
  LiveEnvelopeSchema,
  type LiveEvent,
  LiveEventSchema,
  RewardStatus,
} from "@parley/proto/live";
import {
  AlertKind,
  AlertSchema,
  FeedbackSchema,
  FeedbackStatus,
  ModerationStatus,
  ScoreBand,
  SentimentBand,
} from "@parley/proto/wall";
import { describe, expect, it } from "vitest";
import { pickLanguage, rewardReasonLabel, ruleLabel, topicLabel, translate } from "../src/i18n.ts";
import {
  applyAlert,
  applyEnvelope,
  applyFeedback,
  applyModeration,
  type Cards,
  cardStatus,
  cardsOfSnapshot,
  endOf,
  feedbackQuery,
  isLive,
  matches,
  mergeScores,
  NO_FILTER,
  rewardPhase,
  SILENT_LIMIT_MS,
  sortedCards,
  trimCards,
} from "../src/state.ts";

/** The wall's clock in these tests: a little after every event. */
const NOW = 10_000;

let seq = 0n;
const envelope = (sessionId: string, event: LiveEvent, at = 1_000): LiveEnvelope =>
  create(LiveEnvelopeSchema, {
    sessionId,
    storeCode: "a1",
    businessId: "alpha",
    seq: ++seq,
    publishedAtMs: BigInt(at),
    event,
  });
const transcript = (sessionId: string, segmentId: number, text: string, isFinal: boolean, at = 1_000) =>
  envelope(
    sessionId,
    create(LiveEventSchema, {
      kind: { case: "transcript", value: { sessionId, segmentId, text, isFinal, startMs: segmentId * 1000 } },
    }),
    at,
  );

describe("the wall's cards", () => {
  it("grow a transcript from partials to finals, and a repeated envelope changes nothing", () => {
    const cards: Cards = {};
    const first = transcript("s1", 1, "the coff", false);
    expect(applyEnvelope(cards, first)).toBe(true);
    applyEnvelope(cards, transcript("s1", 1, "the coffee was cold", true));
    applyEnvelope(cards, transcript("s1", 2, "and", false));
    expect(cards.s1!.segments.map((s) => [s.text, s.isFinal])).toEqual([
      ["the coffee was cold", true],
      ["and", false],
    ]);
    expect(applyEnvelope(cards, first)).toBe(false); // replayed after a reconnect: already applied
    expect(cardStatus(cards.s1!, NOW)).toBe("live");
  });

  it("ends a conversation with its final score, dropping partials never finalised", () => {
    const cards: Cards = {};
    applyEnvelope(cards, transcript("s2", 1, "great service", true));
    applyEnvelope(cards, transcript("s2", 2, "and the", false));
    applyEnvelope(
      cards,
      envelope(
        "s2",
        create(LiveEventSchema, {
          kind: {
            case: "conversationEnded",
            value: {
              sessionId: "s2",
              reason: EndReason.ENDED_BY_ADMIN,
              finalScore: { score: 81, topics: ["service"], sentiment: 0.6 },
            },
          },
        }),
        5_000,
      ),
    );
    const card = cards.s2!;
    expect(card.segments.map((s) => s.text)).toEqual(["great service"]);
    expect(card.score?.score).toBe(81);
    expect(card.endReason).toBe(EndReason.ENDED_BY_ADMIN);
    expect(cardStatus(card, NOW)).toBe("ended");
    expect(matches(card, { ...NO_FILTER, score: "high", topic: "service", sentiment: "positive" }, 10_000)).toBe(true);
    expect(matches(card, { ...NO_FILTER, score: "low" }, 10_000)).toBe(false);
    expect(matches(card, { ...NO_FILTER, status: "live" }, 10_000)).toBe(false);
    applyModeration(cards, [
      {
        $typeName: "parley.wall.v1.ModerationState",
        sessionId: "s2",
        status: ModerationStatus.APPROVED,
        automatic: true,
      },
    ]);
    expect(card.moderation).toBe(ModerationStatus.APPROVED);
  });

  it("stops counting a conversation live once it is silent for longer than the node keeps it (its node died)", () => {
    const cards: Cards = {};
    applyEnvelope(cards, transcript("g1", 1, "and then the", false, 1_000));
    expect(isLive(cards.g1!, 1_000 + SILENT_LIMIT_MS)).toBe(true);
    const later = 1_000 + SILENT_LIMIT_MS + 1;
    expect(cardStatus(cards.g1!, later)).toBe("ended");
    expect(endOf(cards.g1!, later)).toBe(1_000);
    expect(matches(cards.g1!, { ...NO_FILTER, status: "live" }, later)).toBe(false);
    // Another event is news of it: live again.
    applyEnvelope(cards, transcript("g1", 1, "and then the queue", false, later));
    expect(cardStatus(cards.g1!, later)).toBe("live");
    // A silent one is trimmed like an ended one; a live one stays.
    applyEnvelope(cards, transcript("g2", 1, "newer", false, later + 1));
    trimCards(cards, 1, later + SILENT_LIMIT_MS + 1);
    expect(Object.keys(cards)).toEqual(["g2"]);
  });

  it("shows a conversation another node's wall presumed lost as ended, and live again once it is heard after all", () => {
    const at = (n: bigint, event: LiveEvent, ms = 1_000) =>
      create(LiveEnvelopeSchema, {
        sessionId: "n1",
        storeCode: "a1",
        businessId: "alpha",
        seq: n,
        publishedAtMs: BigInt(ms),
        event,
      });
    const said = (n: bigint, text: string) =>
      at(
        n,
        create(LiveEventSchema, {
          kind: {
            case: "transcript",
            value: { sessionId: "n1", segmentId: Number(n), text, isFinal: true, startMs: Number(n) * 1000 },
          },
        }),
      );
    const ended = (n: bigint, reason: EndReason) =>
      at(
        n,
        create(LiveEventSchema, {
          kind: { case: "conversationEnded", value: { sessionId: "n1", reason, finalScore: { score: 40 } } },
        }),
        2_000,
      );
    // The wall's end of a conversation whose node it took for gone carries the last number it heard (its snapshot too).
    const cards = cardsOfSnapshot({
      live: [said(1n, "the coffee"), said(2n, "was cold"), ended(2n, EndReason.NODE_LOST)],
      recent: [],
      moderation: [],
      alerts: [],
    });
    const card = cards.n1!;
    expect([cardStatus(card, NOW), card.endReason]).toEqual(["ended", EndReason.NODE_LOST]);
    expect(card.scores).toEqual([]); // the last score shown again is no new point
    // Its node was not gone after all: its next event makes it live again.
    expect(applyEnvelope(cards, said(3n, "and the cake"))).toBe(true);
    expect([cardStatus(card, NOW), card.endReason, card.endedAtMs]).toEqual(["live", EndReason.UNSPECIFIED, 0]);
    expect(card.segments.map((x) => x.text)).toEqual(["the coffee", "was cold", "and the cake"]);
    // A presumed end older than what the card shows changes nothing; the node's own end is the end.
    expect(applyEnvelope(cards, ended(2n, EndReason.NODE_LOST))).toBe(false);
    applyEnvelope(cards, ended(4n, EndReason.CUSTOMER));
    expect([cardStatus(card, NOW), card.endReason]).toEqual(["ended", EndReason.CUSTOMER]);
    // From a node of an older release, the presumed end took the next number: the real event of that number still counts.
    const older: Cards = {};
    applyEnvelope(older, said(1n, "hello"));
    applyEnvelope(older, ended(2n, EndReason.NODE_LOST));
    expect(cardStatus(older.n1!, NOW)).toBe("ended");
    applyEnvelope(older, said(2n, "still here"));
    expect(cardStatus(older.n1!, NOW)).toBe("live");
  });

  it("adds finished feedback from the history without overriding what is live", () => {
    const cards: Cards = {};
    applyEnvelope(cards, transcript("s3", 1, "live words", false));
    applyFeedback(
      cards,
      create(FeedbackSchema, { sessionId: "s3", transcript: "history words", fraudFlags: ["duplicate_device"] }),
    );
    applyFeedback(
      cards,
      create(FeedbackSchema, {
        sessionId: "s4",
        storeCode: "a2",
        startedAtMs: 500n,
        endedAtMs: 900n,
        transcript: "older",
      }),
    );
    expect(cards.s3!.segments[0]!.text).toBe("live words");
    expect(cardStatus(cards.s3!, NOW)).toBe("flagged");
    expect(sortedCards(cards).map((c) => c.sessionId)).toEqual(["s3", "s4"]);
    expect(matches(cards.s4!, { ...NO_FILTER, store: "a1" }, 1_000)).toBe(false);
  });

  it("shows a conversation that ended minutes before a (re)connect once, from a snapshot that has it twice", () => {
    // The node still holds its live events; records already list it as finished.
    const ended = envelope(
      "s5",
      create(LiveEventSchema, { kind: { case: "conversationEnded", value: { reason: EndReason.CUSTOMER } } }),
    );
    const cards = cardsOfSnapshot({
      live: [transcript("s5", 1, "the coffee was cold", true), ended],
      recent: [
        create(FeedbackSchema, {
          sessionId: "s5",
          transcript: "the coffee was cold",
          endedAtMs: 1_000n,
          fraudFlags: ["duplicate_device"],
        }),
      ],
      moderation: [],
      alerts: [],
    });
    expect(cards.s5!.segments.map((x) => x.text)).toEqual(["the coffee was cold"]);
    expect(cards.s5!.fraudFlags).toEqual(["duplicate_device"]); // what only the history knows
  });
});

describe("rewards and flags on the wall", () => {
  const reward = (sessionId: string, status: RewardStatus, amountMinor: number, seq?: bigint) => {
    const e = envelope(
      sessionId,
      create(LiveEventSchema, {
        kind: { case: "reward", value: { sessionId, status, amountMinor, currency: "SEK", reason: "tier" } },
      }),
    );
    if (seq !== undefined) e.seq = seq;
    return e;
  };

  it("shows the reward records decided after the end, even from a node that no longer knew the conversation", () => {
    const cards: Cards = {};
    applyEnvelope(cards, transcript("r1", 1, "lovely buns", true));
    applyEnvelope(
      cards,
      envelope("r1", create(LiveEventSchema, { kind: { case: "conversationEnded", value: { sessionId: "r1" } } })),
    );
    expect(cards.r1!.reward).toBe("");
    expect(applyEnvelope(cards, reward("r1", RewardStatus.GRANTED, 2_000, 0n))).toBe(true);
    expect(cards.r1).toMatchObject({ reward: "claimable", rewardMinor: 2_000, rewardReason: "tier", currency: "SEK" });
    expect(rewardPhase(cards.r1!.reward)).toBe("held");
    // A reward alone is no conversation: nothing appears for one the wall does not show.
    expect(applyEnvelope(cards, reward("unknown", RewardStatus.GRANTED, 500))).toBe(false);
    expect(cards.unknown).toBeUndefined();
  });

  it("marks a card flagged when a fraud alert names it, and not for other alerts", () => {
    const cards: Cards = {};
    applyEnvelope(cards, transcript("f1", 1, "same receipt again", true));
    applyEnvelope(cards, reward("f1", RewardStatus.WITHHELD, 0));
    expect(cardStatus(cards.f1!, NOW)).toBe("live"); // withheld may be only poor quality: not flagged by itself
    applyAlert(cards, create(AlertSchema, { kind: AlertKind.LOW_SCORE, sessionId: "f1" }));
    expect(cardStatus(cards.f1!, NOW)).toBe("live");
    applyAlert(
      cards,
      create(AlertSchema, { kind: AlertKind.FRAUD_FLAGGED, sessionId: "f1", detail: "duplicate_receipt, ip_velocity" }),
    );
    expect(cards.f1!.fraudFlags).toEqual(["duplicate_receipt", "ip_velocity"]);
    expect(cardStatus(cards.f1!, NOW)).toBe("flagged");
    expect(rewardPhase(cards.f1!.reward)).toBe("withheld");
  });

  it("takes the reward's progress and the flags from the history", () => {
    const cards: Cards = {};
    applyFeedback(
      cards,
      create(FeedbackSchema, {
        sessionId: "h1",
        endedAtMs: 10n,
        rewardMinor: 1_000,
        currency: "SEK",
        rewardStatus: "paid",
        rewardReason: "tier",
      }),
    );
    applyFeedback(
      cards,
      create(FeedbackSchema, { sessionId: "h2", endedAtMs: 10n, rewardStatus: "withheld", qualityFlags: ["empty"] }),
    );
    expect(rewardPhase(cards.h1!.reward)).toBe("paid");
    expect(cards.h1!.rewardMinor).toBe(1_000);
    expect(cards.h2!.qualityFlags).toEqual(["empty"]);
    expect(cardStatus(cards.h2!, NOW)).toBe("ended"); // poor quality is not fraud
    expect(rewardPhase("transfer_pending")).toBe("paying");
    expect(rewardPhase("reversed")).toBe("failed");
    expect(rewardPhase("")).toBe("");
  });
});

describe("the wall's filters and the history", () => {
  const HOUR = 3_600_000;
  const now = 100 * 86_400_000;

  it("asks the history for what each filter shows of finished conversations, nothing without a filter or for live ones", () => {
    expect(feedbackQuery(NO_FILTER, now)).toBeUndefined();
    expect(feedbackQuery({ ...NO_FILTER, status: "live" }, now)).toBeUndefined();
    expect(feedbackQuery({ ...NO_FILTER, store: "third" }, now)).toMatchObject({
      storeCodes: ["third"],
      startedSinceMs: 0n,
      scoreBand: ScoreBand.UNSPECIFIED,
      status: FeedbackStatus.UNSPECIFIED,
    });
    expect(feedbackQuery({ ...NO_FILTER, status: "flagged" }, now)).toMatchObject({
      storeCodes: [],
      status: FeedbackStatus.FLAGGED,
    });
    expect(feedbackQuery({ ...NO_FILTER, status: "ended" }, now)?.status).toBe(FeedbackStatus.ENDED);
    expect(feedbackQuery({ ...NO_FILTER, time: "hour" }, now)?.startedSinceMs).toBe(BigInt(now - HOUR));
    expect(feedbackQuery({ ...NO_FILTER, time: "week" }, now)?.startedSinceMs).toBe(BigInt(now - 7 * 24 * HOUR));
    expect(feedbackQuery({ ...NO_FILTER, time: "today" }, now)?.startedSinceMs).toBe(
      BigInt(new Date(now).setHours(0, 0, 0, 0)),
    );
    expect(
      feedbackQuery({ ...NO_FILTER, score: "low", sentiment: "negative", topic: "parking", language: "sv" }, now),
    ).toMatchObject({ scoreBand: ScoreBand.LOW, sentiment: SentimentBand.NEGATIVE, topic: "parking", language: "sv" });
    expect(feedbackQuery({ ...NO_FILTER, score: "high" }, now)?.scoreBand).toBe(ScoreBand.HIGH);
    expect(feedbackQuery({ ...NO_FILTER, sentiment: "neutral" }, now)?.sentiment).toBe(SentimentBand.NEUTRAL);
  });

  it("keeps the filter's cards when the wall is trimmed, however old", () => {
    const cards: Cards = {};
    for (let i = 0; i < 5; i++)
      applyFeedback(
        cards,
        create(FeedbackSchema, {
          sessionId: `n${i}`,
          storeCode: "demo",
          startedAtMs: BigInt(5_000 + i),
          endedAtMs: 9_000n,
        }),
      );
    applyFeedback(
      cards,
      create(FeedbackSchema, { sessionId: "old", storeCode: "third", startedAtMs: 100n, endedAtMs: 200n }),
    );
    const filter = { ...NO_FILTER, store: "third" };
    trimCards(cards, 3, NOW, (c) => matches(c, filter, NOW));
    expect(Object.keys(cards).sort()).toEqual(["n3", "n4", "old"]);
    // Without a filter to keep: the newest.
    trimCards(cards, 2, NOW);
    expect(Object.keys(cards).sort()).toEqual(["n3", "n4"]);
  });

  it("draws a live conversation's score from the history so far and the wall's own points, once each", () => {
    const history = [
      { atMs: 1_000, score: 20 },
      { atMs: 2_000, score: 30 },
      { atMs: 3_000, score: 40 },
    ];
    // The wall connected after the second: the snapshot gave the latest, then two more came.
    const wall = [
      { atMs: 3_000, score: 40 },
      { atMs: 4_000, score: 50 },
      { atMs: 5_000, score: 55 },
    ];
    expect(mergeScores(history, wall)).toEqual([...history, ...wall.slice(1)]);
    expect(mergeScores([], wall)).toEqual(wall);
    expect(mergeScores(history, [])).toEqual(history);
    // Two scores published within one millisecond are two points.
    expect(mergeScores(history, [{ atMs: 3_000, score: 45 }]).map((p) => p.score)).toEqual([20, 30, 40, 45]);

    // As the wall builds them: a snapshot (the latest score only), then live scores.
    const cards: Cards = {};
    const score = (value: number, at: number) =>
      envelope(
        "m1",
        create(LiveEventSchema, { kind: { case: "score", value: { sessionId: "m1", score: value } } }),
        at,
      );
    applyEnvelope(cards, score(40, 3_000));
    applyEnvelope(cards, score(50, 4_000));
    expect(mergeScores(history, cards.m1!.scores).map((p) => p.score)).toEqual([20, 30, 40, 50]);
  });
});

describe("the dashboards' languages", () => {
  it("picks Swedish for Swedish browsers unless asked otherwise, and translates with parameters", () => {
    expect(pickLanguage("", "sv-SE")).toBe("sv");
    expect(pickLanguage("?lang=en", "sv-SE")).toBe("en");
    expect(pickLanguage("", "en-US")).toBe("en");
    expect(translate("sv", "alert.LOW_SCORE", { score: 12, store: "centrum" })).toBe(
      "Lågt betyg (12) från en kund som är kvar i centrum",
    );
    expect(topicLabel("sv", "waiting_time")).toBe("väntetid");
    expect(topicLabel("en", "brand_new_topic")).toBe("brand new topic");
    expect(ruleLabel("sv", "duplicate_receipt")).toBe("samma kvitto som ett tidigare samtal");
    expect(ruleLabel("en", "new_rule")).toBe("new rule");
    expect(rewardReasonLabel("en", "budget_exhausted")).toBe("the day's budget was used up");
  });
});
