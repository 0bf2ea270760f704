// Moderation for public screens: a business approves or hides each finished
// feedback, redacts phrases, and may approve automatically above a score.
// Approved feedback reaches public screens (topics p/...) redacted (the
// owner's phrases, and always e-mail addresses and phone numbers); the
// wall's own dashboards see every decision as it is made. Decisions and
// settings are kept (and audited) by the ModerationStore.
//
// A person decides on the node their dashboard is connected to: that node
// tells every node's dashboards (broadcastToAllNodes, through the bus), so a
// public screen on another node changes at once, not on its next reconnect.
//
// Automatic approval waits for the conversation's reward decision
// (RewardUpdate): records publishes it once the end is stored, so the
// history has the final score by then. Every node hears it; the store lets
// only the first approval through, and each node tells its own dashboards
// (broadcast): telling all from each would repeat it once per node.
import { create } from "@bufbuild/protobuf";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import {
  type Feedback,
  ModerationStatus,
  type PublicFeedback,
  PublicFeedbackSchema,
  type ModerationSettings as WireSettings,
} from "@parley/proto/wall";
import type { Logger } from "pino";
import { type LiveBus, liveTopic, type Unsubscribe } from "../../live/LiveBus.ts";
import { serverFrame } from "../frames.ts";
import type { WallHistory } from "../history/WallHistory.ts";
import { publicTopicsOfItem, topicsOfItem } from "../scope.ts";
import { maskContacts } from "./contacts.ts";
import type {
  BusinessModerationSettings,
  ModerationActor,
  ModerationDecision,
  ModerationStore,
} from "./ModerationStore.ts";

const MAX_PHRASES = 100;
const MAX_PHRASE_CHARS = 100;
const REDACTED = "███";
/** How often, and how far apart, redactions that could not be sent to public screens are tried again. */
const REPUBLISH_RETRIES = 3;
const REPUBLISH_RETRY_MS = 5_000;

/** A letter (å, ä, ö included), a combining mark, a digit or "_": what words are made of. */
const WORD_CHAR = "[\\p{L}\\p{M}\\p{N}_]";
const STARTS_WORD = new RegExp(`^${WORD_CHAR}`, "u");
const ENDS_WORD = new RegExp(`${WORD_CHAR}$`, "u");

/**
 * Replaces each phrase (case-insensitive) with a block where it stands as
 * whole words: "Al" in "Al said" and "Al's", never inside "also" or
 * "mellow"; "Åsa" in "ÅSA", not in "Åsas". One pass, with the longest phrase tried first: one at a time, "Anna"
 * would turn "Anna Svensson" into "███ Svensson" before "Anna Svensson"
 * could match it. Spaces within a phrase match any run of white space.
 */
export function redact(text: string, phrases: readonly string[]): string {
  const listed = phrases
    .map((p) => p.trim())
    .filter(Boolean)
    .sort((a, b) => b.length - a.length)
    .map((p) => {
      const body = p
        .split(/\s+/u)
        .map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
        .join("\\s+");
      // A boundary where the phrase begins or ends with a word's character (not before "(a+b)").
      const before = STARTS_WORD.test(p) ? `(?<!${WORD_CHAR})` : "";
      const after = ENDS_WORD.test(p) ? `(?!${WORD_CHAR})` : "";
      return `${before}${body}${after}`;
    });
  return listed.length ? text.replace(new RegExp(listed.join("|"), "giu"), REDACTED) : text;
}

type Send = (businessId: string, topics: readonly string[], frame: Uint8Array) => void;

export interface WallModerationOptions {
  bus: LiveBus;
  store: ModerationStore;
  history: WallHistory;
  /** The hub's fan-out to this node's dashboards. */
  broadcast: (topics: readonly string[], frame: Uint8Array) => void;
  /** The hub's fan-out to every node's dashboards (WallHub.broadcastToAllNodes). */
  broadcastToAllNodes: (businessId: string, topics: readonly string[], frame: Uint8Array) => void;
  logger: Logger;
}

export class WallModeration {
  readonly #o: WallModerationOptions;
  readonly #unsubscribe: Unsubscribe;
  /** Auto-approvals under way: a node shutting down waits for them before closing the database. */
  readonly #autoApprovals = new Set<Promise<void>>();
  /** Redactions waiting to be sent to public screens again (see #republishRedacted). */
  readonly #retries = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(options: WallModerationOptions) {
    this.#o = options;
    this.#unsubscribe = options.bus.subscribe(liveTopic.admin, ({ envelope }) => {
      if (envelope.event?.kind.case !== "reward") return;
      const approval = this.#autoApprove(envelope.sessionId)
        .catch((err: unknown) => this.#o.logger.error({ err, sessionId: envelope.sessionId }, "auto-approval failed"))
        .finally(() => this.#autoApprovals.delete(approval));
      this.#autoApprovals.add(approval);
    });
  }

  /** Resolves once every auto-approval started so far has finished. */
  async settled(): Promise<void> {
    while (this.#autoApprovals.size > 0) await Promise.allSettled([...this.#autoApprovals]);
  }

  settings(businessId: string): Promise<BusinessModerationSettings> {
    return this.#o.store.settings(businessId);
  }

  decisions(sessionIds: readonly string[]): Promise<ModerationDecision[]> {
    return this.#o.store.decisions(sessionIds);
  }

  /** A person's decision. The caller has checked that the feedback is theirs. */
  async decide(feedback: Feedback, status: ModerationStatus, actor: ModerationActor): Promise<void> {
    if (
      status !== ModerationStatus.APPROVED &&
      status !== ModerationStatus.HIDDEN &&
      status !== ModerationStatus.PENDING
    )
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "status must be PENDING, APPROVED or HIDDEN");
    if (!feedback.endedAtMs) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "moderate a conversation once it ended");
    await this.#apply(feedback, status, actor);
  }

  async setSettings(
    businessId: string,
    wire: WireSettings | undefined,
    actor: ModerationActor,
  ): Promise<BusinessModerationSettings> {
    const phrases = (wire?.redactedPhrases ?? []).map((p) => p.trim()).filter(Boolean);
    if (phrases.length > MAX_PHRASES || phrases.some((p) => p.length > MAX_PHRASE_CHARS))
      throw new ParleyError(
        ErrorCode.INVALID_ARGUMENT,
        `at most ${MAX_PHRASES} phrases of ${MAX_PHRASE_CHARS} characters`,
      );
    const autoApproveAbove = wire?.autoApproveAbove ?? 0;
    if (autoApproveAbove > 100) throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "autoApproveAbove is 0..100");
    const settings = { autoApproveAbove, redactedPhrases: phrases };
    await this.#o.store.setSettings(businessId, settings, actor);
    const send = this.#sender(actor);
    send(
      businessId,
      topicsOfItem(businessId, undefined),
      serverFrame({ kind: { case: "moderation", value: { businessId, settings } } }),
    );
    // The settings are stored: what fails after this is not the request's to answer.
    await this.#republishRedacted(businessId, send, settings);
    return settings;
  }

  /**
   * Public screens show the new redactions (the phrases are mostly names):
   * approved feedback again, oldest first, since a screen puts each item on
   * top and keeps its newest. Tried again a few times, with the settings
   * stored by then, when the feedback cannot be read.
   */
  async #republishRedacted(
    businessId: string,
    send: Send,
    settings?: BusinessModerationSettings,
    attempt = 0,
  ): Promise<void> {
    try {
      const current = settings ?? (await this.#o.store.settings(businessId));
      const approved = await this.#approvedFeedback(businessId, undefined);
      for (const feedback of approved.reverse()) this.#publishPublic(feedback, current, send);
    } catch (err) {
      if (attempt >= REPUBLISH_RETRIES || this.#closed) {
        this.#o.logger.error({ err, businessId }, "public screens keep the old redactions until they reconnect");
        return;
      }
      this.#o.logger.warn({ err, businessId }, "public screens' redactions not sent yet; trying again");
      const retry = setTimeout(() => {
        this.#retries.delete(retry);
        void this.#republishRedacted(businessId, send, undefined, attempt + 1);
      }, REPUBLISH_RETRY_MS).unref();
      this.#retries.add(retry);
    }
  }

  /** Approved feedback for a public screen's snapshot, redacted, newest first. */
  async publicFeedback(businessId: string, storeCodes: ReadonlySet<string> | undefined): Promise<PublicFeedback[]> {
    const settings = await this.#o.store.settings(businessId);
    return (await this.#approvedFeedback(businessId, storeCodes)).map((f) => this.#toPublic(f, settings));
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    for (const retry of this.#retries) clearTimeout(retry);
    this.#retries.clear();
  }

  /** The approved feedback of a business (within some stores) that still has something to show, newest first. */
  async #approvedFeedback(businessId: string, storeCodes: ReadonlySet<string> | undefined): Promise<Feedback[]> {
    const approved = await this.#o.store.approved(businessId, storeCodes, 100);
    const feedback = await this.#o.history.feedback(approved.map((d) => d.sessionId));
    // The history checks nothing: only this business's, and only what was not deleted since.
    return feedback.filter((f) => f.businessId === businessId && f.transcript);
  }

  async #autoApprove(sessionId: string): Promise<void> {
    const [feedback] = await this.#o.history.feedback([sessionId]);
    if (!feedback?.finalScore || !feedback.endedAtMs) return;
    const settings = await this.#o.store.settings(feedback.businessId);
    if (settings.autoApproveAbove <= 0 || feedback.finalScore.score < settings.autoApproveAbove) return;
    await this.#apply(feedback, ModerationStatus.APPROVED, "system");
  }

  async #apply(feedback: Feedback, status: ModerationStatus, actor: ModerationActor): Promise<void> {
    const { sessionId, businessId, storeCode } = feedback;
    const outcome = await this.#o.store.decide({ sessionId, businessId, status }, actor);
    const { previous, current } = outcome;
    // The threshold's approval of something a person decided: nothing to tell. The same approval
    // already made by another node (it heard the same reward): this node's dashboards hear it too.
    if (actor === "system" && !(current.automatic && current.status === ModerationStatus.APPROVED)) return;
    const automatic = current.automatic;
    const send = this.#sender(actor);
    send(
      businessId,
      topicsOfItem(businessId, storeCode),
      serverFrame({
        kind: { case: "moderation", value: { businessId, states: [{ sessionId, status, automatic }] } },
      }),
    );
    if (status === ModerationStatus.APPROVED)
      this.#publishPublic(feedback, await this.#o.store.settings(businessId), send);
    else if (previous?.status === ModerationStatus.APPROVED && outcome.changed) this.#withdrawPublic(feedback, send);
    if (outcome.changed)
      this.#o.logger.info({ sessionId, status: ModerationStatus[status], automatic }, "feedback moderated");
  }

  /**
   * The customer deleted their data: public screens showing it drop it now
   * (every node's; a screen that connects later never gets it, as records
   * leaves deleted feedback out). Part of Wall.customerDeleted.
   */
  withdraw(deleted: { sessionId: string; businessId: string; storeCode: string }): void {
    this.#withdrawPublic(deleted, this.#o.broadcastToAllNodes);
    this.#o.logger.info({ sessionId: deleted.sessionId }, "deleted feedback withdrawn from public screens");
  }

  /** Public screens showing this item drop it. */
  #withdrawPublic(item: { sessionId: string; businessId: string; storeCode: string }, send: Send): void {
    const { sessionId, businessId, storeCode } = item;
    send(
      businessId,
      publicTopicsOfItem(businessId, storeCode),
      serverFrame({ kind: { case: "publicWithdrawn", value: { sessionId } } }),
    );
  }

  /** A person's decision: to every node's dashboards; the threshold's (made on every node): to this node's. */
  #sender(actor: ModerationActor): Send {
    return actor === "system"
      ? (_businessId, topics, frame) => this.#o.broadcast(topics, frame)
      : this.#o.broadcastToAllNodes;
  }

  #publishPublic(feedback: Feedback, settings: BusinessModerationSettings, send: Send): void {
    send(
      feedback.businessId,
      publicTopicsOfItem(feedback.businessId, feedback.storeCode),
      serverFrame({ kind: { case: "publicFeedback", value: this.#toPublic(feedback, settings) } }),
    );
  }

  #toPublic(feedback: Feedback, settings: BusinessModerationSettings): PublicFeedback {
    return create(PublicFeedbackSchema, {
      sessionId: feedback.sessionId,
      storeCode: feedback.storeCode,
      endedAtMs: feedback.endedAtMs,
      score: feedback.finalScore?.score ?? 0,
      // Contacts first: an owner's phrase ("Anna") inside an address would leave the rest of it unmatched.
      text: redact(maskContacts(feedback.transcript), settings.redactedPhrases),
      topics: feedback.finalScore?.topics ?? [],
      sentiment: feedback.finalScore?.sentiment ?? 0,
    });
  }
}
