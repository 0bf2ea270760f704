// Moderation of finished feedback for public screens, kept in Postgres: one
// decision per feedback (approved, hidden, or back to pending) and per
// business its auto-approve threshold and redacted phrases. Every decision
// and every change of settings is written to the audit log in the same
// transaction, with who made it (a user, or the system for automatic
// approvals).
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Sql } from "postgres";
import { UUID } from "../db/uuid.ts";

export type ModerationState = "pending" | "approved" | "hidden";

export interface ModerationRecord {
  sessionId: string;
  businessId: string;
  storeCode: string;
  status: ModerationState;
  /** Approved by the business's threshold rather than by a person. */
  automatic: boolean;
}

export interface ModerationSettingsRecord {
  /** Final scores at or above are approved automatically; 0: off. */
  autoApproveAbove: number;
  redactedPhrases: string[];
}

/** Who moderates: a business user or admin (as their token says), or the system's threshold. */
export type ModerationActor = { userId: string; role: "owner" | "staff" | "admin" } | "system";

const DEFAULT_SETTINGS: ModerationSettingsRecord = { autoApproveAbove: 0, redactedPhrases: [] };

interface DecisionRow {
  session_id: string;
  business_id: string;
  store_code: string;
  status: ModerationState;
  automatic: boolean;
}

const recordOf = (r: DecisionRow): ModerationRecord => ({
  sessionId: r.session_id,
  businessId: r.business_id,
  storeCode: r.store_code,
  status: r.status,
  automatic: r.automatic,
});

function auditActor(actor: ModerationActor): { userId: string | null; role: string; detail: Record<string, string> } {
  if (actor === "system") return { userId: null, role: "system", detail: {} };
  // Tokens of records' logins carry the user's uuid; anything else is kept in the detail.
  return UUID.test(actor.userId)
    ? { userId: actor.userId, role: actor.role, detail: {} }
    : { userId: null, role: actor.role, detail: { user: actor.userId.slice(0, 128) } };
}

export async function moderationSettings(sql: Sql, businessId: string): Promise<ModerationSettingsRecord> {
  if (!UUID.test(businessId)) return { ...DEFAULT_SETTINGS, redactedPhrases: [] };
  const [row] = await sql<{ auto_approve_above: number; redacted_phrases: string[] }[]>`
    select auto_approve_above, redacted_phrases from moderation_settings where business_id = ${businessId}`;
  return row
    ? { autoApproveAbove: row.auto_approve_above, redactedPhrases: row.redacted_phrases }
    : { ...DEFAULT_SETTINGS, redactedPhrases: [] };
}

/** Replaces a business's settings (the caller validated them). Throws NOT_FOUND for an unknown business. */
export async function setModerationSettings(
  sql: Sql,
  businessId: string,
  settings: ModerationSettingsRecord,
  actor: ModerationActor,
): Promise<void> {
  if (!UUID.test(businessId)) throw new ParleyError(ErrorCode.NOT_FOUND, "no such business");
  const who = auditActor(actor);
  await sql.begin(async (tx) => {
    const written = await tx`
      insert into moderation_settings (business_id, auto_approve_above, redacted_phrases, updated_at)
      select id, ${settings.autoApproveAbove}, ${settings.redactedPhrases}::text[], now()
      from businesses where id = ${businessId}
      on conflict (business_id) do update set
        auto_approve_above = excluded.auto_approve_above, redacted_phrases = excluded.redacted_phrases,
        updated_at = excluded.updated_at`;
    if (written.count === 0) throw new ParleyError(ErrorCode.NOT_FOUND, "no such business");
    // The phrases themselves may name people: the audit keeps how many there are.
    await tx`
      insert into audit_log (actor_user_id, actor, business_id, action, target, detail)
      values (${who.userId}, ${who.role}, ${businessId}, 'moderation.settings', ${`business:${businessId}`},
              ${tx.json({ ...who.detail, autoApproveAbove: settings.autoApproveAbove, redactedPhrases: settings.redactedPhrases.length })})`;
  });
}

export async function moderationDecisions(sql: Sql, sessionIds: readonly string[]): Promise<ModerationRecord[]> {
  const ids = sessionIds.filter((id) => UUID.test(id));
  if (ids.length === 0) return [];
  const rows = await sql<DecisionRow[]>`
    select d.session_id, d.business_id, st.code as store_code, d.status, d.automatic
    from moderation_decisions d
    join sessions s on s.id = d.session_id
    join stores st on st.id = s.store_id
    where d.session_id = any(${ids}::uuid[])`;
  return rows.map(recordOf);
}

/** Approved feedback of a business (perhaps only some stores), newest decision first. */
export async function approvedFeedback(
  sql: Sql,
  businessId: string,
  storeCodes: readonly string[] | undefined,
  limit: number,
): Promise<ModerationRecord[]> {
  if (!UUID.test(businessId)) return [];
  const rows = await sql<DecisionRow[]>`
    select d.session_id, d.business_id, st.code as store_code, d.status, d.automatic
    from moderation_decisions d
    join sessions s on s.id = d.session_id
    join stores st on st.id = s.store_id
    where d.business_id = ${businessId} and d.status = 'approved' and s.deleted_by_customer_at is null
      and ${storeCodes === undefined ? sql`true` : sql`st.code = any(${[...storeCodes]}::text[])`}
    order by d.decided_at desc, d.session_id
    limit ${limit}`;
  return rows.map(recordOf);
}

/**
 * Records a decision, with its audit row, in one transaction. A person's
 * decision replaces whatever was there; an automatic approval (actor
 * "system") is made only when nobody decided yet. Returns the decision that
 * stands afterwards and the one before. Throws NOT_FOUND when the session is
 * not the business's.
 */
export async function decideModeration(
  sql: Sql,
  decision: { sessionId: string; businessId: string; status: ModerationState },
  actor: ModerationActor,
): Promise<{ previous: ModerationRecord | undefined; current: ModerationRecord; changed: boolean }> {
  const notFound = () => new ParleyError(ErrorCode.NOT_FOUND, "no such conversation");
  if (!UUID.test(decision.sessionId) || !UUID.test(decision.businessId)) throw notFound();
  const automatic = actor === "system";
  const who = auditActor(actor);
  return sql.begin(async (tx) => {
    const [session] = await tx<{ store_code: string }[]>`
      select st.code as store_code from sessions s join stores st on st.id = s.store_id
      where s.id = ${decision.sessionId} and s.business_id = ${decision.businessId}
      for update of s`;
    if (!session) throw notFound();
    const [before] = await tx<DecisionRow[]>`
      select session_id, business_id, ${session.store_code}::text as store_code, status, automatic
      from moderation_decisions where session_id = ${decision.sessionId}`;
    const previous = before ? recordOf(before) : undefined;
    if (automatic && previous) return { previous, current: previous, changed: false };
    await tx`
      insert into moderation_decisions (session_id, business_id, status, automatic, decided_by, decided_at)
      values (${decision.sessionId}, ${decision.businessId}, ${decision.status}, ${automatic}, ${who.userId}, now())
      on conflict (session_id) do update set
        status = excluded.status, automatic = excluded.automatic, decided_by = excluded.decided_by,
        decided_at = excluded.decided_at`;
    await tx`
      insert into audit_log (actor_user_id, actor, business_id, action, target, detail)
      values (${who.userId}, ${who.role}, ${decision.businessId}, 'moderation.decide', ${`session:${decision.sessionId}`},
              ${tx.json({ ...who.detail, status: decision.status, automatic, previous: previous?.status ?? null })})`;
    const current: ModerationRecord = {
      sessionId: decision.sessionId,
      businessId: decision.businessId,
      storeCode: session.store_code,
      status: decision.status,
      automatic,
    };
    return { previous, current, changed: true };
  });
}

/** The moderation queries, bound to one database. */
export function moderationQueries(sql: Sql) {
  return {
    settings: (businessId: string) => moderationSettings(sql, businessId),
    setSettings: (businessId: string, settings: ModerationSettingsRecord, actor: ModerationActor) =>
      setModerationSettings(sql, businessId, settings, actor),
    decisions: (sessionIds: readonly string[]) => moderationDecisions(sql, sessionIds),
    approved: (businessId: string, storeCodes: readonly string[] | undefined, limit: number) =>
      approvedFeedback(sql, businessId, storeCodes, limit),
    decide: (decision: { sessionId: string; businessId: string; status: ModerationState }, actor: ModerationActor) =>
      decideModeration(sql, decision, actor),
  };
}

export type ModerationQueries = ReturnType<typeof moderationQueries>;
