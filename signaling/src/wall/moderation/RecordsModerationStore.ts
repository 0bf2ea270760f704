// Moderation kept by the records package (Postgres, audited): this adapter
// maps the wall protocol's ModerationStatus to records' states and back.
import { ModerationStatus } from "@parley/proto/wall";
import type { ModerationQueries, ModerationState } from "@parley/records";
import type {
  BusinessModerationSettings,
  ModerationActor,
  ModerationDecision,
  ModerationOutcome,
  ModerationStore,
} from "./ModerationStore.ts";

const TO_STATE: Partial<Record<ModerationStatus, ModerationState>> = {
  [ModerationStatus.PENDING]: "pending",
  [ModerationStatus.APPROVED]: "approved",
  [ModerationStatus.HIDDEN]: "hidden",
};
const FROM_STATE: Record<ModerationState, ModerationStatus> = {
  pending: ModerationStatus.PENDING,
  approved: ModerationStatus.APPROVED,
  hidden: ModerationStatus.HIDDEN,
};

const fromRecord = (d: {
  sessionId: string;
  businessId: string;
  storeCode: string;
  status: ModerationState;
  automatic: boolean;
}): ModerationDecision => ({ ...d, status: FROM_STATE[d.status] });

export class RecordsModerationStore implements ModerationStore {
  readonly #q: ModerationQueries;

  constructor(queries: ModerationQueries) {
    this.#q = queries;
  }

  settings(businessId: string): Promise<BusinessModerationSettings> {
    return this.#q.settings(businessId);
  }

  setSettings(businessId: string, settings: BusinessModerationSettings, actor: ModerationActor): Promise<void> {
    return this.#q.setSettings(businessId, settings, actor);
  }

  async decisions(sessionIds: readonly string[]): Promise<ModerationDecision[]> {
    return (await this.#q.decisions(sessionIds)).map(fromRecord);
  }

  async approved(
    businessId: string,
    storeCodes: ReadonlySet<string> | undefined,
    limit: number,
  ): Promise<ModerationDecision[]> {
    return (await this.#q.approved(businessId, storeCodes ? [...storeCodes] : undefined, limit)).map(fromRecord);
  }

  async decide(
    decision: { sessionId: string; businessId: string; status: ModerationStatus },
    actor: ModerationActor,
  ): Promise<ModerationOutcome> {
    const status = TO_STATE[decision.status];
    if (!status) throw new Error(`not a moderation status: ${decision.status}`);
    const outcome = await this.#q.decide({ ...decision, status }, actor);
    return {
      previous: outcome.previous && fromRecord(outcome.previous),
      current: fromRecord(outcome.current),
      changed: outcome.changed,
    };
  }
}
