// Where moderation decisions live: the records database (RecordsModerationStore),
// so that an approval survives a restart and every node reads the same, and
// every decision is in the audit log with who made it.
import type { ModerationStatus } from "@parley/proto/wall";
import type { UserRole } from "../../auth/userToken.ts";

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

/** Who moderates: a signed-in user, or the business's threshold ("system"). */
export type ModerationActor = { userId: string; role: UserRole } | "system";

export interface ModerationOutcome {
  previous: ModerationDecision | undefined;
  /** The decision that stands now. */
  current: ModerationDecision;
  /** False when nothing was written (the threshold's approval of something a person already decided). */
  changed: boolean;
}

export interface ModerationStore {
  settings(businessId: string): Promise<BusinessModerationSettings>;
  setSettings(businessId: string, settings: BusinessModerationSettings, actor: ModerationActor): Promise<void>;
  decisions(sessionIds: readonly string[]): Promise<ModerationDecision[]>;
  /** Approved feedback of a business (perhaps only some stores), newest decision first. */
  approved(
    businessId: string,
    storeCodes: ReadonlySet<string> | undefined,
    limit: number,
  ): Promise<ModerationDecision[]>;
  /**
   * A person's decision replaces any; the system's approval is made only
   * when nobody decided yet. Throws NOT_FOUND when the session is not the
   * business's.
   */
  decide(
    decision: { sessionId: string; businessId: string; status: ModerationStatus },
    actor: ModerationActor,
  ): Promise<ModerationOutcome>;
}
