// The wall's model: one card per conversation, built from the snapshot and
// the live envelopes that follow (the same code applies both), and from the
// history's finished feedback. Pure functions on plain objects, so the wall
// can keep them in a Solid store and tests can run them as they are.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { EndReason, type FeedbackScore, type LiveEnvelope, RewardStatus } from "@parley/proto/live";
import {
  type Alert,
  AlertKind,
  type Feedback,
  type FeedbackFilterSchema,
  FeedbackStatus,
  type ModerationState,
  ModerationStatus,
  ScoreBand,
  SentimentBand,
  type Snapshot,
} from "@parley/proto/wall";

/**
 * Records' state of a reward ("" until decided): none, withheld, claimable
 * (held until the customer claims it), onboarding, transfer_pending,
 * transferred, payout_pending, paid, payout_failed, reversed.
 */
export type RewardState = string;

/** The live RewardUpdate's status in records' terms (the history then says how far its payment got). */
const REWARD_STATE: Record<RewardStatus, RewardState> = {
  [RewardStatus.UNSPECIFIED]: "",
  [RewardStatus.GRANTED]: "claimable",
  [RewardStatus.NONE]: "none",
  [RewardStatus.WITHHELD]: "withheld",
};

/**
 * A conversation silent this long is no longer live: its node died without
 * publishing its end, and no end will come. Mirrors the node's own limit
 * (signaling's LiveConversations, silentTtlMs: 60 min), after which it
 * forgets such a conversation too.
 */
export const SILENT_LIMIT_MS = 60 * 60_000;

export interface ShownSegment {
  id: number;
  text: string;
  isFinal: boolean;
  startMs: number;
}

export interface Card {
  sessionId: string;
  businessId: string;
  storeCode: string;
  language: string;
  startedAtMs: number;
  /** 0 while live. */
  endedAtMs: number;
  /** When its latest event was published (the node's clock): a long silence means it is not live any more. */
  lastEventAtMs: number;
  segments: ShownSegment[];
  score: FeedbackScore | undefined;
  /** Scores over the conversation, for the drill-down and sparkline. */
  scores: { atMs: number; score: number }[];
  aiTurns: { turn: number; text: string }[];
  endReason: EndReason;
  rewardMinor: number;
  currency: string;
  reward: RewardState;
  /** Why ("tier", "below_minimum_quality", "budget_exhausted", "flagged", ...). */
  rewardReason: string;
  summary: string;
  /** Fraud rules that flagged it: its status is "flagged". */
  fraudFlags: string[];
  /** Quality rules that withheld its reward (not fraud). */
  qualityFlags: string[];
  moderation: ModerationStatus;
  moderationAutomatic: boolean;
  /** The highest sequence number applied: a repeated or older envelope changes nothing. */
  lastSeq: number;
}

export type Cards = Record<string, Card>;

function newCard(sessionId: string, businessId: string, storeCode: string, startedAtMs: number): Card {
  return {
    sessionId,
    businessId,
    storeCode,
    language: "",
    startedAtMs,
    endedAtMs: 0,
    lastEventAtMs: startedAtMs,
    segments: [],
    score: undefined,
    scores: [],
    aiTurns: [],
    endReason: EndReason.UNSPECIFIED,
    rewardMinor: 0,
    currency: "SEK",
    reward: "",
    rewardReason: "",
    summary: "",
    fraudFlags: [],
    qualityFlags: [],
    moderation: ModerationStatus.PENDING,
    moderationAutomatic: false,
    lastSeq: 0,
  };
}

/** Applies one live envelope (from the snapshot or the stream). Returns whether it changed anything. */
export function applyEnvelope(cards: Cards, envelope: LiveEnvelope): boolean {
  const at = Number(envelope.publishedAtMs);
  const event = envelope.event?.kind;
  // A reward may come from a node that no longer knows the conversation (seq 0): it is applied
  // whatever its seq (a decision never changes), and only to a conversation already shown.
  if (event?.case === "reward") {
    const card = cards[envelope.sessionId];
    if (!card) return false;
    card.reward = REWARD_STATE[event.value.status] ?? "";
    card.rewardReason = event.value.reason;
    card.rewardMinor = event.value.amountMinor;
    card.currency = event.value.currency || card.currency;
    card.lastEventAtMs = Math.max(card.lastEventAtMs, at);
    return true;
  }
  let card = cards[envelope.sessionId];
  if (!card)
    card = cards[envelope.sessionId] = newCard(envelope.sessionId, envelope.businessId, envelope.storeCode, at);
  const seq = Number(envelope.seq);
  // A node's wall ends a conversation whose node it takes for gone (NODE_LOST, never said by a node of
  // itself) at the last sequence number it heard: presumed, it uses up no number of the conversation's.
  // Should the conversation be heard again, its next event is applied and makes it live again.
  const presumedEnd = event?.case === "conversationEnded" && event.value.reason === EndReason.NODE_LOST;
  if (presumedEnd ? seq < card.lastSeq : seq <= card.lastSeq) return false;
  if (!presumedEnd) {
    card.lastSeq = seq;
    if (card.endReason === EndReason.NODE_LOST) {
      card.endedAtMs = 0;
      card.endReason = EndReason.UNSPECIFIED;
    }
  }
  card.lastEventAtMs = Math.max(card.lastEventAtMs, at);
  const kind = envelope.event?.kind;
  switch (kind?.case) {
    case "sessionStarted":
      card.startedAtMs = Number(kind.value.startedAtMs) || at;
      card.language = kind.value.language;
      break;
    case "transcript": {
      const s = kind.value;
      const shown = { id: s.segmentId, text: s.text, isFinal: s.isFinal, startMs: s.startMs };
      const i = card.segments.findIndex((x) => x.id === s.segmentId);
      if (i >= 0 && card.segments[i]!.isFinal && !s.isFinal) break; // a late partial never undoes a final
      if (i >= 0) card.segments[i] = shown;
      else {
        card.segments.push(shown);
        card.segments.sort((a, b) => a.startMs - b.startMs || a.id - b.id);
      }
      break;
    }
    case "score":
      card.score = kind.value;
      card.scores.push({ atMs: at, score: kind.value.score });
      break;
    case "aiTurn":
      if (!card.aiTurns.some((t) => t.turn === kind.value.turn))
        card.aiTurns.push({ turn: kind.value.turn, text: kind.value.text });
      break;
    case "conversationEnded": {
      const e = kind.value;
      card.endedAtMs = at;
      card.endReason = e.reason;
      card.summary = e.summary;
      // Records decides the reward after the end (RewardUpdate); an end that carries one still counts.
      if (e.rewardMinor) card.rewardMinor = e.rewardMinor;
      card.currency = e.currency || card.currency;
      if (e.finalScore) {
        card.score = e.finalScore;
        // A presumed end repeats the last score shown: no new point.
        if (!presumedEnd) card.scores.push({ atMs: at, score: e.finalScore.score });
      }
      // Partials the recogniser never finalised are not part of the feedback.
      card.segments = card.segments.filter((x) => x.isFinal);
      break;
    }
    default:
      break;
  }
  return true;
}

/**
 * The cards of a snapshot (a wall's first state, and after each reconnect). A
 * conversation that ended minutes ago is in both parts, its live events and
 * its history: the live ones first, so that the history only adds what they
 * lack (flags, the reward) instead of a second copy of the transcript.
 */
export function cardsOfSnapshot(snapshot: Pick<Snapshot, "recent" | "live" | "moderation" | "alerts">): Cards {
  const cards: Cards = {};
  for (const e of snapshot.live) applyEnvelope(cards, e);
  for (const f of [...snapshot.recent].reverse()) applyFeedback(cards, f);
  applyModeration(cards, snapshot.moderation);
  for (const a of snapshot.alerts) applyAlert(cards, a);
  return cards;
}

/** A finished conversation from the history; live data the wall already has wins. */
export function applyFeedback(cards: Cards, f: Feedback): void {
  const known = cards[f.sessionId];
  if (known) {
    if (f.fraudFlags.length) known.fraudFlags = [...f.fraudFlags];
    if (f.qualityFlags.length) known.qualityFlags = [...f.qualityFlags];
    if (f.rewardStatus) applyReward(known, f);
    return;
  }
  const card = newCard(f.sessionId, f.businessId, f.storeCode, Number(f.startedAtMs));
  card.language = f.language;
  card.endedAtMs = Number(f.endedAtMs);
  card.lastEventAtMs = card.endedAtMs;
  card.segments = f.transcript ? [{ id: 0, text: f.transcript, isFinal: true, startMs: 0 }] : [];
  card.score = f.finalScore;
  card.endReason = f.reason;
  card.summary = f.summary;
  applyReward(card, f);
  card.fraudFlags = [...f.fraudFlags];
  card.qualityFlags = [...f.qualityFlags];
  cards[f.sessionId] = card;
}

function applyReward(card: Card, f: Feedback): void {
  card.reward = f.rewardStatus;
  card.rewardReason = f.rewardReason;
  card.rewardMinor = f.rewardMinor;
  card.currency = f.currency || card.currency;
}

/**
 * The wall's alerts are the viewer's day's (the snapshot holds those raised
 * since their midnight): at the next one, those of the day before leave.
 */
export const todaysAlerts = (alerts: readonly Alert[], dayStartMs: number): Alert[] =>
  alerts.filter((a) => Number(a.atMs) >= dayStartMs);

/** A fraud alert names its conversation: the card shows it flagged at once. */
export function applyAlert(cards: Cards, alert: Alert): void {
  if (alert.kind !== AlertKind.FRAUD_FLAGGED || !alert.sessionId) return;
  const card = cards[alert.sessionId];
  if (!card) return;
  card.fraudFlags = alert.detail
    .split(",")
    .map((r) => r.trim())
    .filter(Boolean);
  if (card.fraudFlags.length === 0) card.fraudFlags = ["fraud"];
}

/**
 * How far a reward got, for labels: held for the customer to claim, being
 * transferred, paid (in the customer's Stripe account, or on to their bank),
 * withheld (flagged), none earned, or failed (payout failed, reversed).
 */
export type RewardPhase = "held" | "paying" | "paid" | "withheld" | "none" | "failed" | "";
export function rewardPhase(state: RewardState): RewardPhase {
  switch (state) {
    case "claimable":
    case "onboarding":
      return "held";
    case "transfer_pending":
      return "paying";
    case "transferred":
    case "payout_pending":
    case "paid":
      return "paid";
    case "withheld":
      return "withheld";
    case "none":
      return "none";
    case "payout_failed":
    case "reversed":
      return "failed";
    default:
      return "";
  }
}

export function applyModeration(cards: Cards, states: readonly ModerationState[]): void {
  for (const s of states) {
    const card = cards[s.sessionId];
    if (!card) continue;
    card.moderation = s.status;
    card.moderationAutomatic = s.automatic;
  }
}

export type CardStatus = "live" | "ended" | "flagged";

/** Not ended, and heard of within the node's limit; `nowMs` on the node's clock (see serverNow). */
export const isLive = (card: Card, nowMs: number): boolean =>
  !card.endedAtMs && nowMs - card.lastEventAtMs <= SILENT_LIMIT_MS;

/** One that fell silent for good shows as ended: nothing more will come of it. */
export function cardStatus(card: Card, nowMs: number): CardStatus {
  if (card.fraudFlags.length > 0) return "flagged";
  return isLive(card, nowMs) ? "live" : "ended";
}

/** When it ended, or went silent for good; 0 while live. */
export const endOf = (card: Card, nowMs: number): number =>
  card.endedAtMs || (isLive(card, nowMs) ? 0 : card.lastEventAtMs);

export type Sentiment = "negative" | "neutral" | "positive";

export const sentimentOf = (value: number): Sentiment =>
  value < -0.2 ? "negative" : value > 0.2 ? "positive" : "neutral";

export interface Filter {
  store: string; // "" = all
  time: "hour" | "today" | "week" | "all";
  score: "all" | "low" | "mid" | "high";
  topic: string;
  sentiment: "all" | Sentiment;
  status: "all" | CardStatus;
  language: string;
}

export const NO_FILTER: Filter = {
  store: "",
  time: "all",
  score: "all",
  topic: "",
  sentiment: "all",
  status: "all",
  language: "",
};

/** The earliest start the time filter lets through (0: any). */
function sinceOf(time: Filter["time"], nowMs: number): number {
  return time === "hour"
    ? nowMs - 3_600_000
    : time === "today"
      ? new Date(nowMs).setHours(0, 0, 0, 0)
      : time === "week"
        ? nowMs - 7 * 86_400_000
        : 0;
}

export function matches(card: Card, filter: Filter, nowMs: number): boolean {
  if (filter.store && card.storeCode !== filter.store) return false;
  if (filter.language && !card.language.startsWith(filter.language)) return false;
  if (filter.status !== "all" && cardStatus(card, nowMs) !== filter.status) return false;
  if (card.startedAtMs < sinceOf(filter.time, nowMs)) return false;
  const score = card.score;
  if (filter.score !== "all") {
    if (!score) return false;
    const band = score.score < 40 ? "low" : score.score < 70 ? "mid" : "high";
    if (band !== filter.score) return false;
  }
  if (filter.topic && !score?.topics.includes(filter.topic)) return false;
  if (filter.sentiment !== "all" && (!score || sentimentOf(score.sentiment) !== filter.sentiment)) return false;
  return true;
}

const SCORE_BANDS = { all: ScoreBand.UNSPECIFIED, low: ScoreBand.LOW, mid: ScoreBand.MID, high: ScoreBand.HIGH };
const SENTIMENT_BANDS = {
  all: SentimentBand.UNSPECIFIED,
  negative: SentimentBand.NEGATIVE,
  neutral: SentimentBand.NEUTRAL,
  positive: SentimentBand.POSITIVE,
};

/**
 * What the history is asked for when the filter changes (the snapshot's
 * recent conversations are only the latest of the whole scope, so a filter
 * would find few or none of older ones among them): the finished
 * conversations that match it, as `matches` has it. Undefined when the
 * snapshot's are what it asks for (no filter), or when only live ones can
 * match (the history has finished ones).
 */
export function feedbackQuery(
  filter: Filter,
  nowMs: number,
): MessageInitShape<typeof FeedbackFilterSchema> | undefined {
  if (filter.status === "live") return undefined;
  const since = sinceOf(filter.time, nowMs);
  const query = {
    storeCodes: filter.store ? [filter.store] : [],
    startedSinceMs: BigInt(Math.max(0, Math.floor(since))),
    scoreBand: SCORE_BANDS[filter.score],
    topic: filter.topic,
    sentiment: SENTIMENT_BANDS[filter.sentiment],
    status:
      filter.status === "flagged"
        ? FeedbackStatus.FLAGGED
        : filter.status === "ended"
          ? FeedbackStatus.ENDED
          : FeedbackStatus.UNSPECIFIED,
    language: filter.language,
  };
  const none =
    !filter.store &&
    since === 0 &&
    filter.score === "all" &&
    !filter.topic &&
    filter.sentiment === "all" &&
    filter.status === "all" &&
    !filter.language;
  return none ? undefined : query;
}

/**
 * A live conversation's score over time: the history's timeline so far (the
 * drill-down's copy, from records) and the points the wall saw itself since
 * it connected, once each (both carry the time the score was published: a
 * point of both has the same time and score), in order of time.
 */
export function mergeScores(
  history: readonly { atMs: number; score: number }[],
  live: readonly { atMs: number; score: number }[],
): { atMs: number; score: number }[] {
  const points = new Map<string, { atMs: number; score: number }>();
  for (const p of [...history, ...live]) points.set(`${p.atMs}/${p.score}`, p);
  return [...points.values()].sort((a, b) => a.atMs - b.atMs);
}

/** Newest first; live conversations before ended ones that started at the same time. */
export function sortedCards(cards: Cards): Card[] {
  return Object.values(cards).sort((a, b) => b.startedAtMs - a.startedAtMs);
}

/** Topics and languages seen, for the filters. */
export function facets(cards: Cards): { topics: string[]; languages: string[] } {
  const topics = new Set<string>();
  const languages = new Set<string>();
  for (const c of Object.values(cards)) {
    for (const t of c.score?.topics ?? []) topics.add(t);
    if (c.language) languages.add(c.language.slice(0, 2));
  }
  return { topics: [...topics].sort(), languages: [...languages].sort() };
}

/**
 * Keeps the wall bounded: the newest `max` cards (live ones always stay).
 * Those `shown` keeps (the filter's: the history found them, however old)
 * count first, so that a filter's cards are not the ones let go.
 */
export function trimCards(cards: Cards, max: number, nowMs: number, shown?: (card: Card) => boolean): void {
  const all = sortedCards(cards);
  if (all.length <= max) return;
  const order = shown ? [...all.filter(shown), ...all.filter((c) => !shown(c))] : all;
  for (const card of order.slice(max)) if (!isLive(card, nowMs)) delete cards[card.sessionId];
}
