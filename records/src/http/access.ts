// What the records routes' handlers share: which businesses and stores the
// caller may reach (another's answer 404, as if they did not exist), the
// request's JSON body, and the audit log entry of what the caller did.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Sql } from "postgres";
import { UUID } from "../db/uuid.ts";
import type { RouteContext } from "./context.ts";
import { type Auth, json, type RecordsRequest } from "./types.ts";

export { UUID };
export const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;
export const notFound = () => json(404, { error: "not found" });
/** RFC 5321's limit on an e-mail address. */
export const MAX_EMAIL_LENGTH = 254;

type UserAuth = Extract<Auth, { kind: "user" }>;
export const user = (req: RecordsRequest) => req.auth as UserAuth;

/** The business the caller may see, or undefined (→ 404). */
export function ownBusiness(req: RecordsRequest, businessId: string | undefined): string | undefined {
  const auth = user(req);
  if (!businessId || !UUID.test(businessId)) return undefined;
  return auth.role === "admin" || auth.businessId === businessId ? businessId : undefined;
}

/**
 * The business of a `/api/businesses/:businessId/…` route, when the caller may see it and it exists;
 * else undefined (→ 404). Owners and staff reach only their own business (their token names it, and
 * it exists); an admin may name any, so theirs is looked up: one that does not exist answers as
 * another business does for an owner, 404 with the same body, never an empty 200.
 */
export async function routeBusiness(ctx: RouteContext, req: RecordsRequest): Promise<string | undefined> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId || user(req).role !== "admin") return businessId;
  const [row] = await ctx.sql`select 1 from businesses where id = ${businessId}`;
  return row ? businessId : undefined;
}

/** Whether the caller may see this store of a business they may see (staff may be limited to some). */
export function allowedStore(req: RecordsRequest, code: string): boolean {
  const codes = user(req).storeCodes;
  return codes === undefined || codes.includes(code);
}

/** The SQL condition that keeps a caller to their stores, on `stores st`. */
/**
 * A session `s` whose content (transcript, scores, questions) may be shown:
 * not deleted by its customer, not past retention. Content a node's queue
 * wrote after that (it held the conversation through a database outage) is
 * left out until the retention job's next run removes it.
 */
export const contentKept = (sql: Sql) => sql`s.deleted_by_customer_at is null and s.redacted_at is null`;

export function inAllowedStores(sql: Sql, req: RecordsRequest) {
  const codes = user(req).storeCodes;
  return codes === undefined ? sql`true` : sql`st.code = any(${codes}::text[])`;
}

export async function ownStore(
  ctx: RouteContext,
  req: RecordsRequest,
  code: string | undefined,
): Promise<{ id: string; business_id: string; code: string } | undefined> {
  if (!code || !STORE_CODE.test(code)) return undefined;
  const [store] = await ctx.sql<{ id: string; business_id: string; code: string }[]>`
    select id, business_id, code from stores where code = ${code}`;
  if (!store) return undefined;
  return ownBusiness(req, store.business_id) && allowedStore(req, store.code) ? store : undefined;
}

export async function audit(
  ctx: RouteContext,
  req: RecordsRequest,
  action: string,
  target: string,
  businessId: string | null,
  detail: Record<string, unknown> = {},
): Promise<void> {
  const auth = req.auth;
  const actor = auth.kind === "user" ? auth.role : auth.kind;
  const userId = auth.kind === "user" ? auth.userId : null;
  await ctx.sql`
    insert into audit_log (at, actor_user_id, actor, business_id, action, target, detail)
    values (${new Date(ctx.now())}, ${userId}, ${actor}, ${businessId}, ${action}, ${target}, ${ctx.sql.json(detail as never)})`;
}

/** A NUL character, JSON-escaped (a raw one is looked for with includes). */
const ESCAPED_NUL = /\\u0000/i;

export function body(req: RecordsRequest): Record<string, unknown> {
  if (req.rawBody.length === 0) return {};
  if (!(req.headers["content-type"] ?? "").startsWith("application/json"))
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "send application/json");
  const text = req.rawBody.toString("utf8");
  // PostgreSQL's text cannot hold NUL: such a value would fail inside a query, as a 500.
  if (text.includes("\0") || ESCAPED_NUL.test(text))
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "text must not contain NUL characters");
  let value: unknown;
  try {
    value = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
  } catch {
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "body is not a JSON object");
  }
  // A lone surrogate ("\ud800") is no character: the row would be stored and its audit (jsonb) refused.
  if (!wellFormed(value)) throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "text must be valid Unicode");
  return value as Record<string, unknown>;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every string in a parsed JSON value, keys too, is well-formed UTF-16. */
function wellFormed(value: unknown): boolean {
  if (typeof value === "string") return !LONE_SURROGATE.test(value);
  if (Array.isArray(value)) return value.every(wellFormed);
  if (typeof value === "object" && value !== null)
    return Object.entries(value).every(([k, v]) => !LONE_SURROGATE.test(k) && wellFormed(v));
  return true;
}
