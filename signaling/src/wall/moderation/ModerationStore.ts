// Where moderation decisions live. The records package can keep them in
// Postgres; until then MemoryModerationStore keeps them for the node's
// lifetime (a restart forgets them: approved feedback goes back to pending).
import { ModerationStatus } from "@parley/proto/wall";

export interface ModerationDecision {
  sessionId: string;
  businessId: string;
  storeCode: string;
  status: ModerationStatus;
  /** Approved by the business's auto-approve threshold rather than by a person. */
  automatic: boolean;
}

export interface BusinessModerationSettings {
  /** Final scores at or above are approved for public screens; 0: off. */
  autoApproveAbove: number;
  /** Replaced by "███" wherever feedback is shown publicly. */
  redactedPhrases: string[];
}

export interface ModerationStore {
  settings(businessId: string): Promise<BusinessModerationSettings>;
  setSettings(businessId: string, settings: BusinessModerationSettings): Promise<void>;
  decision(sessionId: string): Promise<ModerationDecision | undefined>;
  decisions(sessionIds: readonly string[]): Promise<ModerationDecision[]>;
  /** Approved feedback of a business, newest decision first. */
  approved(businessId: string, limit: number): Promise<ModerationDecision[]>;
  decide(decision: ModerationDecision): Promise<void>;
}

export class MemoryModerationStore implements ModerationStore {
  readonly #settings = new Map<string, BusinessModerationSettings>();
  /** By session, in the order of the latest decision. */
  readonly #decisions = new Map<string, ModerationDecision>();
  readonly #maxDecisions: number;

  constructor(options: { maxDecisions?: number } = {}) {
    this.#maxDecisions = options.maxDecisions ?? 50_000;
  }

  async settings(businessId: string): Promise<BusinessModerationSettings> {
    const s = this.#settings.get(businessId);
    return s ? { ...s, redactedPhrases: [...s.redactedPhrases] } : { autoApproveAbove: 0, redactedPhrases: [] };
  }

  async setSettings(businessId: string, settings: BusinessModerationSettings): Promise<void> {
    this.#settings.set(businessId, { ...settings, redactedPhrases: [...settings.redactedPhrases] });
  }

  async decision(sessionId: string): Promise<ModerationDecision | undefined> {
    return this.#decisions.get(sessionId);
  }

  async decisions(sessionIds: readonly string[]): Promise<ModerationDecision[]> {
    return sessionIds.flatMap((id) => {
      const d = this.#decisions.get(id);
      return d ? [d] : [];
    });
  }

  async approved(businessId: string, limit: number): Promise<ModerationDecision[]> {
    const out: ModerationDecision[] = [];
    const all = [...this.#decisions.values()];
    for (let i = all.length - 1; i >= 0 && out.length < limit; i--) {
      const d = all[i]!;
      if (d.businessId === businessId && d.status === ModerationStatus.APPROVED) out.push(d);
    }
    return out;
  }

  async decide(decision: ModerationDecision): Promise<void> {
    this.#decisions.delete(decision.sessionId); // re-inserted last: newest decision last
    this.#decisions.set(decision.sessionId, { ...decision });
    if (this.#decisions.size > this.#maxDecisions) {
      const oldest = this.#decisions.keys().next().value;
      if (oldest !== undefined) this.#decisions.delete(oldest);
    }
  }
}
