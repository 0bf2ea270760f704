// What is live right now, kept from the bus for dashboards that connect
// mid-conversation: per conversation, the latest version of each of its
// events (SessionStarted, each transcript segment, each AI turn, the latest
// score, status and AI speech, the end, the reward), compacted so that a snapshot
// replays into the same state as the events themselves. Ended conversations
// stay a few minutes, so a dashboard connecting just after an end still sees
// it (the history may not have it yet).
//
// It also keeps what the monitor derives from events alone: when the first
// transcript and score came, and how long scoring took.
import { EndReason, type FeedbackScore, type LiveEnvelope } from "@parley/proto/live";
import type { LiveMessage } from "../live/LiveMessage.ts";
import { inScope, type WallScope } from "./scope.ts";

export class LiveConversation {
  readonly sessionId: string;
  readonly businessId: string;
  readonly storeCode: string;
  startedAtMs: number;
  nodeId: string;
  language = "";
  ended = false;
  endedAtMs = 0;
  /**
   * Ended by a wall, not by its node (END_REASON_NODE_LOST: its node taken for
   * gone). Presumed only: an event of its own after it makes it live again.
   */
  endPresumed = false;
  lastEventAtMs: number;
  /** The highest sequence number heard (an end a wall gives a lost conversation carries it too). */
  lastSeq = 0n;
  /** Latest message per item ("start", "seg/<id>", "ai/<turn>", "score", "status", "speech", "end", "reward"). */
  readonly #latest = new Map<string, LiveMessage>();
  firstTranscriptAtMs = 0;
  firstScoreAtMs = 0;
  score: FeedbackScore | undefined;
  /** A final transcript segment → the first score that judged it (the latest such pair). */
  scoringLatencyMs = 0;
  /** The newest final not yet judged by a score. */
  #unjudgedFinal: { segmentId: number; atMs: number } | undefined;

  constructor(envelope: LiveEnvelope) {
    this.sessionId = envelope.sessionId;
    this.businessId = envelope.businessId;
    this.storeCode = envelope.storeCode;
    this.nodeId = envelope.nodeId;
    this.startedAtMs = Number(envelope.publishedAtMs);
    this.lastEventAtMs = this.startedAtMs;
  }

  apply(message: LiveMessage): void {
    const { envelope } = message;
    const at = Number(envelope.publishedAtMs);
    const kind = envelope.event?.kind;
    // Heard again after a wall presumed it lost: an event it had not heard (a reward follows a real end,
    // so it revives nothing).
    if (this.endPresumed && kind?.case !== "reward" && envelope.seq > this.lastSeq) this.#revive();
    this.lastEventAtMs = at;
    if (envelope.seq > this.lastSeq) this.lastSeq = envelope.seq;
    switch (kind?.case) {
      case "sessionStarted":
        this.startedAtMs = Number(kind.value.startedAtMs) || at;
        this.nodeId = kind.value.nodeId || envelope.nodeId;
        this.language = kind.value.language;
        this.#latest.set("start", message);
        break;
      case "transcript":
        if (!this.firstTranscriptAtMs) this.firstTranscriptAtMs = at;
        if (kind.value.isFinal) this.#unjudgedFinal = { segmentId: kind.value.segmentId, atMs: at };
        this.#latest.set(`seg/${kind.value.segmentId}`, message);
        break;
      case "score": {
        if (!this.firstScoreAtMs) this.firstScoreAtMs = at;
        // Re-scores of the same text on partials later are not latency: only the first score after a final counts.
        const final = this.#unjudgedFinal;
        if (final && kind.value.throughSegmentId >= final.segmentId) {
          this.scoringLatencyMs = Math.max(0, at - final.atMs);
          this.#unjudgedFinal = undefined;
        }
        this.score = kind.value;
        this.#latest.set("score", message);
        break;
      }
      case "aiTurn":
        this.#latest.set(`ai/${kind.value.turn}`, message);
        break;
      case "aiSpeech":
        this.#latest.set("speech", message);
        break;
      case "status":
        this.#latest.set("status", message);
        break;
      case "conversationEnded":
        this.ended = true;
        this.endedAtMs = at;
        this.endPresumed = kind.value.reason === EndReason.NODE_LOST;
        if (kind.value.finalScore) this.score = kind.value.finalScore;
        this.#latest.set("end", message);
        break;
      case "reward":
        this.#latest.set("reward", message);
        break;
      default:
        break; // an event kind this node does not know yet: not part of snapshots
    }
  }

  #revive(): void {
    this.ended = false;
    this.endedAtMs = 0;
    this.endPresumed = false;
    this.#latest.delete("end");
  }

  /** The compacted events, in publication order (a reward published without a seq, by a node that no longer knew the session, last). */
  envelopes(): LiveEnvelope[] {
    const order = (m: LiveMessage) => (m.envelope.seq === 0n ? Number.MAX_SAFE_INTEGER : Number(m.envelope.seq));
    return [...this.#latest.values()].sort((a, b) => order(a) - order(b)).map((m) => m.envelope);
  }

  /** Final transcript words so far (the monitor's progress column). */
  words(): number {
    let words = 0;
    for (const [key, m] of this.#latest) {
      const kind = m.event?.kind;
      if (key.startsWith("seg/") && kind?.case === "transcript" && kind.value.isFinal)
        words += kind.value.text.split(/\s+/).filter(Boolean).length;
    }
    return words;
  }
}

export interface LiveConversationsOptions {
  /** How long an ended conversation stays in snapshots. */
  endedRetentionMs?: number;
  /** A conversation with no event for this long is forgotten (its node died without an end). */
  silentTtlMs?: number;
  now?: () => number;
}

export class LiveConversations {
  readonly #all = new Map<string, LiveConversation>();
  readonly #endedRetentionMs: number;
  readonly #silentTtlMs: number;
  readonly #now: () => number;

  constructor(options: LiveConversationsOptions = {}) {
    this.#endedRetentionMs = options.endedRetentionMs ?? 5 * 60_000;
    this.#silentTtlMs = options.silentTtlMs ?? 60 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Records one event; returns its conversation. A reward of a conversation
   * no longer kept (decided after it left, or on a node that just started)
   * is not a conversation of its own: undefined.
   */
  apply(message: LiveMessage): LiveConversation | undefined {
    const { envelope } = message;
    let conversation = this.#all.get(envelope.sessionId);
    if (!conversation && envelope.event?.kind.case === "reward") return undefined;
    if (!conversation) this.#all.set(envelope.sessionId, (conversation = new LiveConversation(envelope)));
    conversation.apply(message);
    return conversation;
  }

  get(sessionId: string): LiveConversation | undefined {
    return this.#all.get(sessionId);
  }

  /** Conversations not ended yet (every node's that this node hears of). */
  liveCount(scope?: WallScope): number {
    let n = 0;
    for (const c of this.#all.values()) if (!c.ended && (!scope || inScope(scope, c.businessId, c.storeCode))) n++;
    return n;
  }

  all(): IterableIterator<LiveConversation> {
    return this.#all.values();
  }

  /** The compacted events of every conversation in scope, oldest conversation first. */
  snapshot(scope: WallScope): LiveEnvelope[] {
    if (scope.publicScreen) return [];
    const conversations = [...this.#all.values()]
      .filter((c) => inScope(scope, c.businessId, c.storeCode))
      .sort((a, b) => a.startedAtMs - b.startedAtMs);
    return conversations.flatMap((c) => c.envelopes());
  }

  /** Forgets one conversation now (its customer deleted their data). */
  forget(sessionId: string): void {
    this.#all.delete(sessionId);
  }

  /** Forgets conversations ended long enough ago, and silent ones. */
  sweep(): void {
    const now = this.#now();
    for (const [id, c] of this.#all) {
      if ((c.ended && now - c.endedAtMs > this.#endedRetentionMs) || now - c.lastEventAtMs > this.#silentTtlMs)
        this.#all.delete(id);
    }
  }
}
