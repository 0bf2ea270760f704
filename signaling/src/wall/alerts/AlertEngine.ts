// Alerts on the business wall, raised from the live-event bus:
//   - a live conversation scores low, or is strongly negative, while the
//     customer is still in the store (once per conversation and kind, after
//     enough words that the score means something);
//   - one topic keeps coming up in negative feedback (a spike within a
//     window, then a cool-off);
//   - a conversation was flagged by the fraud rules: records withholds its
//     reward (RewardUpdate WITHHELD, on every node through the bus) and
//     keeps the rules that flagged it; only rules of severity "fraud" alert
//     (an empty conversation is not a fraud). fraudFlagged() raises one
//     directly.
// Each alert goes to the wall (the conversation's store and business topics,
// and admins) and, when a mailer is configured, by e-mail. A conversation
// whose customer deleted their data leaves the recent alerts (forget).
//
// Across nodes every node hears every conversation and raises the same
// alert, each for its own dashboards; the e-mail goes out once: the node
// that claims it (AlertEmailClaims, keyed by what the alert is about, not by
// this node's alert id) sends it, and the per-business hourly limit counts
// only claimed e-mails, in Redis when the node has it (RateLimiter).
//
// Kept (AlertStore, records' Postgres when the node has it): each node saves
// the alerts it raises, keyed as the claim is (a topic spike also by its
// window), and the store keeps each once. An alert's id is derived from that
// key, so every node gives the same alert the same id, live and kept. A
// snapshot shows the kept alerts with this node's own merged in (those not
// saved yet, or all of them while the store is away). Saving never holds up
// the live alert: it goes out first, and a failed save is logged and counted.
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { RewardStatus } from "@parley/proto/live";
import { type Alert, AlertKind, AlertSchema } from "@parley/proto/wall";
import type { Logger } from "pino";
import { MemoryRateLimiter } from "../../edge/MemoryRateLimiter.ts";
import type { RateLimiter, RateLimitOptions } from "../../edge/RateLimiter.ts";
import { type LiveBus, liveTopic, type Unsubscribe } from "../../live/LiveBus.ts";
import { serverFrame } from "../frames.ts";
import { wallAlertEmailClaims, wallAlertEmails, wallAlerts, wallAlertsStored } from "../metrics.ts";
import { inScope, topicsOfItem, type WallScope } from "../scope.ts";
import type { AlertEmailClaims } from "./AlertEmailClaims.ts";
import type { AlertMailer, AlertRecipients } from "./AlertMailer.ts";
import type { AlertStore } from "./AlertStore.ts";
import { LocalAlertEmailClaims } from "./LocalAlertEmailClaims.ts";

/** At most this many alert e-mails per business and clock hour (a flood of alerts must not become one of e-mails). */
export const alertEmailRateLimit: RateLimitOptions = { name: "alert-emails", windowMs: 3_600_000, max: 20 };

/** Alerts a snapshot shows (and the most a store is asked for). */
export const RECENT_ALERTS = 50;

/** The id of the alert named `key`: the same on every node that raises it. */
export function alertId(key: string): string {
  return `a-${createHash("sha256").update(key).digest("base64url").slice(0, 22)}`;
}

/** How long a conversation's alert stays claimed: far beyond the conversation and its reward decision. */
const SESSION_ALERT_CLAIM_MS = 24 * 3_600_000;

/**
 * A conversation with no event for this long is forgotten: its node died
 * and it was never resumed, so no end will come (as LiveConversations'
 * silent TTL). Conversations last minutes; an hour is generous.
 */
const LIVE_SILENT_TTL_MS = 60 * 60_000;
/** Forgotten state is looked for at most this often, on the next event (an idle engine gathers nothing). */
const SWEEP_EVERY_MS = 60_000;

export interface AlertEngineOptions {
  bus: LiveBus;
  broadcast: (topics: readonly string[], frame: Uint8Array) => void;
  logger: Logger;
  /** A live score at or below this alerts. */
  lowScore: number;
  /** A live sentiment at or below this alerts. */
  negativeSentiment: number;
  /** Final words a conversation needs before its score can alert. */
  minWords?: number;
  topicSpike?: { windowMs: number; count: number; coolOffMs: number };
  email?: {
    mailer: AlertMailer;
    recipients: AlertRecipients;
    /** Which node sends each e-mail (default: this one, in process). */
    claims?: AlertEmailClaims;
    /** E-mails per business (default: alertEmailRateLimit, in process). */
    limit?: RateLimiter;
  };
  /** The fraud-severity rules that flagged a conversation (records); absent: withheld rewards raise nothing. */
  fraudRules?: (sessionId: string) => Promise<string[]>;
  /** Where raised alerts are kept for later snapshots, once across nodes; absent: this node's memory only. */
  store?: AlertStore;
  now?: () => number;
}

interface LiveState {
  businessId: string;
  storeCode: string;
  words: Map<number, number>;
  alerted: Set<AlertKind>;
  /** This engine's clock at the conversation's latest event. */
  lastSeenAtMs: number;
}

const NEGATIVE_TOPIC_SENTIMENT = -0.2;

export class AlertEngine {
  readonly #o: AlertEngineOptions;
  readonly #now: () => number;
  readonly #unsubscribe: Unsubscribe;
  readonly #live = new Map<string, LiveState>();
  /** Per business and topic: when negative conversations about it ended. */
  readonly #topicHits = new Map<string, number[]>();
  readonly #topicAlertedAt = new Map<string, number>();
  readonly #recent: Alert[] = [];
  readonly #claims: AlertEmailClaims;
  readonly #emailLimit: RateLimiter;
  readonly #pendingEmails = new Set<Promise<void>>();
  /** Conversations already alerted as flagged (a decision can be published again): insertion-ordered, bounded. */
  readonly #flagged = new Set<string>();
  readonly #pendingLookups = new Set<Promise<void>>();
  readonly #pendingSaves = new Set<Promise<void>>();
  #sweptAtMs: number;

  constructor(options: AlertEngineOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#sweptAtMs = this.#now();
    this.#claims = options.email?.claims ?? new LocalAlertEmailClaims(this.#now);
    this.#emailLimit = options.email?.limit ?? new MemoryRateLimiter({ ...alertEmailRateLimit, now: this.#now });
    this.#unsubscribe = options.bus.subscribe(liveTopic.admin, ({ envelope }) => {
      const kind = envelope.event?.kind;
      // A customer deleted their data (WallHub.broadcastToAllNodes, heard by every node): its alerts go too.
      if (kind?.case === "wallBroadcast") {
        if (kind.value.forgetSessionId) this.forget(kind.value.forgetSessionId);
        return;
      }
      const id = envelope.sessionId;
      const now = this.#now();
      if (now - this.#sweptAtMs >= SWEEP_EVERY_MS) this.#sweep(now);
      const seen = this.#live.get(id);
      if (seen) seen.lastSeenAtMs = now;
      switch (kind?.case) {
        case "sessionStarted":
          this.#state(id, envelope.businessId, envelope.storeCode);
          break;
        case "transcript":
          if (kind.value.isFinal)
            this.#state(id, envelope.businessId, envelope.storeCode).words.set(
              kind.value.segmentId,
              kind.value.text.split(/\s+/).filter(Boolean).length,
            );
          break;
        case "score": {
          if (kind.value.isFinal) break;
          const state = this.#state(id, envelope.businessId, envelope.storeCode);
          let words = 0;
          for (const n of state.words.values()) words += n;
          if (words < (this.#o.minWords ?? 8)) break;
          const { score, sentiment } = kind.value;
          if (score <= this.#o.lowScore) this.#once(state, id, AlertKind.LOW_SCORE, { score, sentiment });
          if (sentiment <= this.#o.negativeSentiment)
            this.#once(state, id, AlertKind.NEGATIVE_SENTIMENT, { score, sentiment });
          break;
        }
        case "reward":
          if (kind.value.status === RewardStatus.WITHHELD)
            this.#lookUpFraud(id, envelope.businessId, envelope.storeCode);
          break;
        case "conversationEnded": {
          this.#live.delete(id);
          const final = kind.value.finalScore;
          if (final && final.sentiment < NEGATIVE_TOPIC_SENTIMENT)
            for (const topic of final.topics) this.#topicHit(envelope.businessId, topic);
          break;
        }
        default:
          break;
      }
    });
  }

  /** Conversations and business topics it keeps state for (tests, leaks). */
  get tracked(): { conversations: number; topics: number } {
    return {
      conversations: this.#live.size,
      topics: new Set([...this.#topicHits.keys(), ...this.#topicAlertedAt.keys()]).size,
    };
  }

  /**
   * Recent alerts in scope raised at or after `sinceMs` (the viewer's day: a
   * snapshot shows today's alerts), newest first: this node's own, with
   * `kept` (the store's, read just before: see kept()) merged in, each alert
   * once.
   */
  recent(scope: WallScope, sinceMs: number, kept: readonly Alert[] = [], limit = RECENT_ALERTS): Alert[] {
    const out: Alert[] = [];
    for (let i = this.#recent.length - 1; i >= 0 && out.length < limit; i--) {
      const a = this.#recent[i]!;
      if (Number(a.atMs) < sinceMs) continue;
      // Business-wide alerts (topic spikes) reach the business's topic only, not store-limited scopes.
      const visible = a.storeCode
        ? inScope(scope, a.businessId, a.storeCode)
        : !scope.storeCodes && inScope(scope, a.businessId, undefined);
      if (visible) out.push(a);
    }
    if (kept.length === 0) return out;
    // The kept copy of an alert this node raised too: one id on every node; the kept time is every node's.
    const byId = new Map(out.map((a) => [a.id, a]));
    for (const a of kept) if (Number(a.atMs) >= sinceMs) byId.set(a.id, a);
    return [...byId.values()]
      .sort((a, b) => (a.atMs === b.atMs ? (a.id < b.id ? -1 : 1) : a.atMs > b.atMs ? -1 : 1))
      .slice(0, limit);
  }

  /**
   * The store's recent alerts in scope raised at or after `sinceMs` (what
   * this node raised before a restart, and what other nodes raised);
   * undefined without a store or when it failed (logged): the snapshot then
   * shows this node's alerts alone.
   */
  async kept(scope: WallScope, sinceMs: number, limit = RECENT_ALERTS): Promise<Alert[] | undefined> {
    const store = this.#o.store;
    if (!store || scope.publicScreen) return undefined;
    try {
      return await store.recent({ businessId: scope.businessId, storeCodes: scope.storeCodes }, sinceMs, limit);
    } catch (err) {
      this.#o.logger.warn({ err, businessId: scope.businessId }, "kept alerts unavailable: this node's alerts only");
      return undefined;
    }
  }

  /**
   * Forgets a conversation whose customer deleted their data: its alerts
   * leave the recent ones (snapshots resend those), and it raises no more.
   * The walls drop them on the ConversationDeleted that tells them of it.
   */
  forget(sessionId: string): void {
    if (!sessionId) return;
    this.#live.delete(sessionId);
    for (let i = this.#recent.length - 1; i >= 0; i--)
      if (this.#recent[i]!.sessionId === sessionId) this.#recent.splice(i, 1);
    // Never flagged again by a reward decision heard late.
    this.#flagged.add(sessionId);
  }

  /** The fraud rules flagged a conversation (once per conversation; `rule`: one rule or several, comma-separated). */
  fraudFlagged(flag: { sessionId: string; businessId: string; storeCode: string; rule: string }): void {
    if (this.#flagged.has(flag.sessionId)) return;
    this.#flagged.add(flag.sessionId);
    if (this.#flagged.size > 10_000) this.#flagged.delete(this.#flagged.values().next().value!);
    this.#raise({
      kind: AlertKind.FRAUD_FLAGGED,
      businessId: flag.businessId,
      storeCode: flag.storeCode,
      sessionId: flag.sessionId,
      detail: flag.rule,
    });
  }

  /** Waits for look-ups, saves and e-mails in progress (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#pendingLookups.size > 0 || this.#pendingEmails.size > 0 || this.#pendingSaves.size > 0)
      await Promise.allSettled([...this.#pendingLookups, ...this.#pendingEmails, ...this.#pendingSaves]);
  }

  /** Waits for the alerts being saved (a node shutting down saves them before its database closes). */
  async saved(): Promise<void> {
    while (this.#pendingSaves.size > 0) await Promise.allSettled([...this.#pendingSaves]);
  }

  close(): void {
    this.#unsubscribe();
    this.#emailLimit.close();
  }

  /** A withheld reward: was it fraud (not only poor quality)? Records knows the rules that flagged it. */
  #lookUpFraud(sessionId: string, businessId: string, storeCode: string): void {
    const lookup = this.#o.fraudRules;
    if (!lookup || this.#flagged.has(sessionId)) return;
    const work = lookup(sessionId)
      .then((rules) => {
        if (rules.length > 0) this.fraudFlagged({ sessionId, businessId, storeCode, rule: rules.join(", ") });
      })
      .catch((err: unknown) => this.#o.logger.error({ err, sessionId }, "fraud flags look-up failed"))
      .finally(() => this.#pendingLookups.delete(work));
    this.#pendingLookups.add(work);
  }

  #state(sessionId: string, businessId: string, storeCode: string): LiveState {
    let state = this.#live.get(sessionId);
    if (!state) {
      state = { businessId, storeCode, words: new Map(), alerted: new Set(), lastSeenAtMs: this.#now() };
      this.#live.set(sessionId, state);
    }
    return state;
  }

  /**
   * Forgets conversations silent too long, and topics (free text from the
   * LLM, so without bound) whose hits left the window and whose cool-off
   * is over: neither can change what alerts next.
   */
  #sweep(now: number): void {
    this.#sweptAtMs = now;
    for (const [id, state] of this.#live) if (now - state.lastSeenAtMs > LIVE_SILENT_TTL_MS) this.#live.delete(id);
    const spike = this.#spike();
    for (const [key, hits] of this.#topicHits) {
      const inWindow = hits.filter((t) => now - t <= spike.windowMs);
      if (inWindow.length === 0) this.#topicHits.delete(key);
      else if (inWindow.length < hits.length) this.#topicHits.set(key, inWindow);
    }
    for (const [key, at] of this.#topicAlertedAt) if (now - at >= spike.coolOffMs) this.#topicAlertedAt.delete(key);
  }

  #spike(): { windowMs: number; count: number; coolOffMs: number } {
    return this.#o.topicSpike ?? { windowMs: 30 * 60_000, count: 3, coolOffMs: 30 * 60_000 };
  }

  #once(state: LiveState, sessionId: string, kind: AlertKind, values: { score: number; sentiment: number }): void {
    if (state.alerted.has(kind)) return;
    state.alerted.add(kind);
    this.#raise({ kind, businessId: state.businessId, storeCode: state.storeCode, sessionId, live: true, ...values });
  }

  #topicHit(businessId: string, topic: string): void {
    const spike = this.#spike();
    const now = this.#now();
    const key = `${businessId}\u0000${topic}`;
    const hits = (this.#topicHits.get(key) ?? []).filter((t) => now - t <= spike.windowMs);
    hits.push(now);
    this.#topicHits.set(key, hits);
    if (hits.length < spike.count) return;
    if (now - (this.#topicAlertedAt.get(key) ?? Number.NEGATIVE_INFINITY) < spike.coolOffMs) return;
    this.#topicAlertedAt.set(key, now);
    // Claimed for the cool-off: the nodes' windows differ by milliseconds, the claim does not. Kept
    // by the cool-off's window (one a node restarted within it raises again is not kept again).
    const claimKey = `TOPIC_SPIKE:${businessId}:${topic}`;
    this.#raise(
      { kind: AlertKind.TOPIC_SPIKE, businessId, topic, count: hits.length },
      { key: claimKey, ttlMs: spike.coolOffMs },
      { key: `${claimKey}:${Math.floor(now / spike.coolOffMs)}`, quietMs: spike.coolOffMs },
    );
  }

  /**
   * `claim`: what names this alert's e-mail on every node; by default its kind
   * and conversation. `kept`: what names it in the store (and so its id); by
   * default the claim's key.
   */
  #raise(
    fields: Omit<Partial<Alert>, "$typeName" | "id" | "atMs"> & { kind: AlertKind; businessId: string },
    claim = { key: `${AlertKind[fields.kind]}:${fields.sessionId}`, ttlMs: SESSION_ALERT_CLAIM_MS },
    kept: { key: string; quietMs?: number } = { key: claim.key },
  ): void {
    const alert = create(AlertSchema, { ...fields, id: alertId(kept.key), atMs: BigInt(this.#now()) });
    // Raised again (a conversation resumed after its state here was swept): one entry per id.
    const earlier = this.#recent.findIndex((a) => a.id === alert.id);
    if (earlier >= 0) this.#recent.splice(earlier, 1);
    this.#recent.push(alert);
    if (this.#recent.length > 500) this.#recent.splice(0, this.#recent.length - 500);
    wallAlerts.inc({ kind: AlertKind[alert.kind] ?? "UNSPECIFIED" });
    this.#o.logger.info(
      { sessionId: alert.sessionId || undefined, kind: AlertKind[alert.kind], storeCode: alert.storeCode },
      "alert raised",
    );
    this.#o.broadcast(
      topicsOfItem(alert.businessId, alert.storeCode || undefined),
      serverFrame({ kind: { case: "alert", value: alert } }),
    );
    this.#save(alert, kept);
    this.#email(alert, claim);
  }

  /** Keeps the alert for later snapshots, after it went out: a failure is logged and counted, never thrown. */
  #save(alert: Alert, kept: { key: string; quietMs?: number }): void {
    const store = this.#o.store;
    if (!store) return;
    const saving = store
      .save(alert, kept.key, kept.quietMs)
      .then((result) => {
        wallAlertsStored.inc({ result });
      })
      .catch((err: unknown) => {
        wallAlertsStored.inc({ result: "failed" });
        this.#o.logger.error(
          { err, sessionId: alert.sessionId || undefined, alertId: alert.id, kind: AlertKind[alert.kind] },
          "alert not kept: dashboards that connect later will not see it",
        );
      })
      .finally(() => this.#pendingSaves.delete(saving));
    this.#pendingSaves.add(saving);
  }

  #email(alert: Alert, claim: { key: string; ttlMs: number }): void {
    const email = this.#o.email;
    if (!email) return;
    const sessionId = alert.sessionId || undefined;
    const sending = this.#claims
      .claim(claim.key, claim.ttlMs)
      .then(async (claimed) => {
        wallAlertEmailClaims.inc({ result: claimed });
        if (claimed === "taken") return; // another node sends it
        // Counted only by the node that sends, so the limit is one business's e-mails, not alerts times nodes.
        if (!(await this.#emailLimit.consume(alert.businessId)).allowed) {
          wallAlertEmails.inc({ result: "rate_limited" });
          return;
        }
        await email.mailer.send(alert, await email.recipients.forBusiness(alert.businessId));
        wallAlertEmails.inc({ result: "sent" });
      })
      .catch((err: unknown) => {
        // The claim stays taken: the mailer already retried what SendGrid said was worth retrying.
        wallAlertEmails.inc({ result: "failed" });
        this.#o.logger.error({ err, sessionId }, "alert e-mail failed");
      });
    this.#pendingEmails.add(sending);
    void sending.finally(() => this.#pendingEmails.delete(sending));
  }
}
