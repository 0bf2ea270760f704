// The records package's REST routes. Every route states who may call it; the
// tenancy rule is the same everywhere: admins see every business, owners and
// staff only their own (another business's resources answer 404, as if they
// did not exist), staff only read, and staff whose token names some stores
// only those (another store's resources answer 404 alike, lists leave them
// out). Customers reach their one session with the data code they were given.
// Business reads and exports of personal data and every change are written to
// the audit log. Owners manage their staff here too, and which stores each is
// limited to; tokens are stateless, so such a change reaches a staff member's
// token at their next login.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Logger } from "pino";
import type { Sql, TransactionSql } from "postgres";
import { DUMMY_HASH, hashPassword, verifyPassword } from "../auth/password.ts";
import { addressKey, type RateLimiter } from "../auth/RateLimiter.ts";
import { issueUserToken, limitedStores, type Role, verifyUserToken } from "../auth/token.ts";
import type { PayoutError, StripePayouts } from "../payments/StripePayouts.ts";
import { type RetentionCounts, redactSessions } from "../privacy/RetentionJob.ts";
import { DEFAULT_POLICY, parsePolicy } from "../rewards/policy.ts";
import { type Auth, json, type Method, type RecordsRequest, type RecordsResponse, type Route } from "./types.ts";

export interface RouteContext {
  sql: Sql;
  logger: Logger;
  authSecret: string;
  userTokenTtlMs: number;
  loginLimiter: RateLimiter;
  /** Data-code guesses per client address (a looser cap than per session). */
  codeAddressLimiter: RateLimiter;
  /** Undefined when Stripe is not configured: claims answer 503. */
  payouts: StripePayouts | undefined;
  now: () => number;
  /** Checks a customer's data code against the session's stored hash. */
  verifyDataCode(sessionId: string, code: string): Promise<boolean>;
  dataRetentionDays: number;
  voiceRetentionHours: number;
  /** How long after its creation a session that has not ended may still be going (joined late, then at most its length). */
  sessionLiveLimitMs: number;
  /** Told after a customer deleted their data (the node takes it off public screens). */
  onCustomerDeleted?: (deleted: CustomerDeletion) => void;
}

/** A session whose data its customer deleted. */
export interface CustomerDeletion {
  sessionId: string;
  businessId: string;
  storeCode: string;
}

type Access = "public" | "user" | "owner" | "customer" | "stripe";
type Handler = (req: RecordsRequest, ctx: RouteContext) => Promise<RecordsResponse>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;
const notFound = () => json(404, { error: "not found" });
const MAX_EMAIL_LENGTH = 254;
/** Something@somewhere.tld: enough to catch typos; whether it reaches anyone is the owner's to know. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** As long as the seeded demo logins' passwords; the upper bound only keeps scrypt's input sane. */
const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 1024;
/** More stores than any business has; a bound on the lookup a request can ask for. */
const MAX_STAFF_STORES = 1000;

export function createRoutes(ctx: RouteContext): Route[] {
  const route = (method: Method, path: string, access: Access, handler: Handler, maxBodyBytes = 16 * 1024): Route => ({
    method,
    path,
    maxBodyBytes,
    handle: async (request) => {
      try {
        const auth = await authenticate(ctx, access, request);
        if (typeof auth === "object" && "status" in auth) return auth;
        return await handler({ ...request, auth }, ctx);
      } catch (error) {
        return errorReply(ctx.logger, method, path, error);
      }
    },
  });

  return [
    route("POST", "/api/auth/login", "public", login),
    route("GET", "/api/businesses", "user", listBusinesses),
    route("GET", "/api/businesses/:businessId/stores", "user", listStores),
    route("POST", "/api/businesses/:businessId/stores", "owner", createStore),
    route("PUT", "/api/businesses/:businessId/budget", "owner", setBudget),
    route("GET", "/api/businesses/:businessId/rewards", "user", listRewards),
    route("GET", "/api/businesses/:businessId/feedback.csv", "user", exportCsv),
    route("GET", "/api/businesses/:businessId/audit", "owner", listAudit),
    route("GET", "/api/businesses/:businessId/users", "owner", listUsers),
    route("POST", "/api/businesses/:businessId/users", "owner", createStaff),
    route("PUT", "/api/businesses/:businessId/users/:userId/stores", "owner", setStaffStores),
    route("DELETE", "/api/businesses/:businessId/users/:userId", "owner", removeStaff),
    route("PUT", "/api/stores/:storeCode/reward-policy", "owner", setPolicy),
    route("GET", "/api/stores/:storeCode/sessions", "user", listSessions),
    route("GET", "/api/feedback/:sessionId", "user", getFeedback),
    route("GET", "/api/customer/sessions/:sessionId", "customer", customerData),
    route("DELETE", "/api/customer/sessions/:sessionId", "customer", customerDelete),
    route("POST", "/api/customer/sessions/:sessionId/reward/claim", "customer", claimReward),
    route("POST", "/api/stripe/webhook", "stripe", stripeWebhook, 1024 * 1024),
  ];
}

// ── authentication ───────────────────────────────────────────────────────────

async function authenticate(
  ctx: RouteContext,
  access: Access,
  req: Omit<RecordsRequest, "auth">,
): Promise<Auth | RecordsResponse> {
  if (access === "public" || access === "stripe") return { kind: "anonymous" };
  if (access === "customer") {
    const sessionId = req.params.sessionId ?? "";
    const code = req.headers["x-parley-data-code"];
    if (!code || !UUID.test(sessionId))
      return json(401, { error: "send the session's data code in X-Parley-Data-Code" });
    // Per session and address, with a looser cap per address: customers behind one address (a
    // store's Wi-Fi, a carrier's NAT) do not lock each other out of reading, deleting or claiming,
    // someone who learnt a session id cannot lock its customer out from elsewhere, and one client
    // cannot guess without end. (A 60-bit code is out of reach at these rates anyway.)
    const address = addressKey(req.ip);
    const sessionKey = `code:${sessionId.toLowerCase()}:${address}`;
    const addressWait = ctx.codeAddressLimiter.retryAfterMs(address);
    const wait = Math.max(ctx.loginLimiter.retryAfterMs(sessionKey), addressWait);
    if (wait > 0) return tooMany(wait);
    const ok = await ctx.verifyDataCode(sessionId, code);
    ctx.loginLimiter.record(sessionKey, ok);
    ctx.codeAddressLimiter.record(address, ok);
    // A wrong code and an unknown session look the same.
    return ok ? { kind: "customer", sessionId } : json(401, { error: "wrong session or data code" });
  }
  const header = req.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const claims = token ? verifyUserToken(ctx.authSecret, token, ctx.now()) : undefined;
  if (!claims) return json(401, { error: "log in first (Authorization: Bearer <token>)" });
  if (access === "owner" && claims.role === "staff") return json(403, { error: "staff may only read" });
  return {
    kind: "user",
    userId: claims.sub,
    role: claims.role,
    businessId: claims.bid,
    storeCodes: limitedStores(claims),
  };
}

type UserAuth = Extract<Auth, { kind: "user" }>;
const user = (req: RecordsRequest) => req.auth as UserAuth;

/** The business the caller may see, or undefined (→ 404). */
function ownBusiness(req: RecordsRequest, businessId: string | undefined): string | undefined {
  const auth = user(req);
  if (!businessId || !UUID.test(businessId)) return undefined;
  return auth.role === "admin" || auth.businessId === businessId ? businessId : undefined;
}

/** Whether the caller may see this store of a business they may see (staff may be limited to some). */
function allowedStore(req: RecordsRequest, code: string): boolean {
  const codes = user(req).storeCodes;
  return codes === undefined || codes.includes(code);
}

/** The SQL condition that keeps a caller to their stores, on `stores st`. */
function inAllowedStores(sql: Sql, req: RecordsRequest) {
  const codes = user(req).storeCodes;
  return codes === undefined ? sql`true` : sql`st.code = any(${codes}::text[])`;
}

async function ownStore(
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

async function audit(
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

function body(req: RecordsRequest): Record<string, unknown> {
  if (req.rawBody.length === 0) return {};
  if (!(req.headers["content-type"] ?? "").startsWith("application/json"))
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "send application/json");
  try {
    const value: unknown = JSON.parse(req.rawBody.toString("utf8"));
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch {
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "body is not a JSON object");
  }
}

const tooMany = (waitMs: number) =>
  json(429, { error: "too many attempts, try again later" }, { "retry-after": String(Math.ceil(waitMs / 1000)) });

function errorReply(logger: Logger, method: string, path: string, error: unknown): RecordsResponse {
  if (error instanceof ParleyError) {
    const status =
      error.code === ErrorCode.INVALID_ARGUMENT
        ? 400
        : error.code === ErrorCode.NOT_FOUND
          ? 404
          : error.code === ErrorCode.ALREADY_EXISTS
            ? 409
            : error.code === ErrorCode.UNAVAILABLE
              ? 503
              : 500;
    return json(status, { error: error.message, code: error.label });
  }
  if ((error as PayoutError).name === "PayoutError") {
    const e = error as PayoutError;
    return json(e.status, { error: e.message });
  }
  logger.error({ err: error, method, route: path }, "records route failed");
  return json(500, { error: "internal error" });
}

// ── business users and admins ────────────────────────────────────────────────

async function login(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const b = body(req);
  const email = typeof b.email === "string" ? b.email.trim().toLowerCase() : "";
  const password = typeof b.password === "string" ? b.password : "";
  if (!email || !password) return json(400, { error: "email and password are required" });
  // RFC 5321's limit; a longer one cannot be a user, only a way to make limiter keys of the 16 KB body.
  if (email.length > MAX_EMAIL_LENGTH) return json(400, { error: "email is too long" });
  // A blocked IP is answered before its e-mail key is looked at: a flood of new e-mails costs nothing.
  const ipKey = `ip:${addressKey(req.ip)}`;
  const ipWait = ctx.loginLimiter.retryAfterMs(ipKey);
  if (ipWait > 0) return tooMany(ipWait);
  const emailKey = `email:${email}`;
  const emailWait = ctx.loginLimiter.retryAfterMs(emailKey);
  if (emailWait > 0) return tooMany(emailWait);
  const [row] = await ctx.sql<(UserRow & { password_hash: string })[]>`
    select u.id, u.password_hash, u.role, u.business_id, u.store_limited, ${storesOfUser(ctx.sql)} as store_codes
    from users u where u.email = ${email}`;
  // Hash even for an unknown e-mail, so timing does not tell which addresses exist.
  const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
  for (const k of [ipKey, emailKey]) ctx.loginLimiter.record(k, ok && !!row);
  if (!ok || !row) {
    ctx.logger.info({ ip: req.ip }, "login failed");
    return json(401, { error: "wrong e-mail or password" });
  }
  const exp = Math.floor((ctx.now() + ctx.userTokenTtlMs) / 1000);
  // Read once, here: tokens are stateless, so a list the owner changes later applies from the next login.
  const stores = tokenStores(row);
  const token = issueUserToken(ctx.authSecret, {
    sub: row.id,
    role: row.role,
    bid: row.business_id,
    exp,
    ...(stores ? { stores } : {}),
  });
  await audit(
    ctx,
    {
      ...req,
      auth: { kind: "user", userId: row.id, role: row.role, businessId: row.business_id, storeCodes: stores },
    },
    "login",
    `user:${row.id}`,
    row.business_id,
  );
  return json(200, {
    token,
    expiresAt: new Date(exp * 1000).toISOString(),
    user: { id: row.id, email, role: row.role, businessId: row.business_id },
  });
}

async function listBusinesses(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const auth = user(req);
  const rows =
    auth.role === "admin"
      ? await ctx.sql`select id, name, time_zone, currency, daily_budget_minor from businesses order by name`
      : await ctx.sql`select id, name, time_zone, currency, daily_budget_minor from businesses where id = ${auth.businessId}`;
  return json(200, { businesses: rows.map(businessJson) });
}

const businessJson = (r: Record<string, unknown>) => ({
  id: r.id,
  name: r.name,
  timeZone: r.time_zone,
  currency: r.currency,
  dailyBudgetMinor: r.daily_budget_minor,
});

async function listStores(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const rows = await ctx.sql`
    select st.id, st.code, st.name, st.language, st.time_zone, st.reward_policy from stores st
    where st.business_id = ${businessId} and ${inAllowedStores(ctx.sql, req)} order by st.code`;
  return json(200, {
    stores: rows.map((r) => ({
      id: r.id,
      code: r.code,
      name: r.name,
      language: r.language,
      timeZone: r.time_zone,
      rewardPolicy: r.reward_policy,
    })),
  });
}

async function createStore(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const b = body(req);
  const code = typeof b.code === "string" ? b.code : "";
  const name = typeof b.name === "string" ? b.name.trim() : "";
  if (!STORE_CODE.test(code)) return json(400, { error: "code must be 2–64 letters, digits, '-' or '_'" });
  if (!name || name.length > 200) return json(400, { error: "name is required (at most 200 characters)" });
  const language = typeof b.language === "string" ? b.language : "sv-SE";
  const timeZone = typeof b.timeZone === "string" ? b.timeZone : "Europe/Stockholm";
  if (!Intl.supportedValuesOf("timeZone").includes(timeZone) && timeZone !== "UTC")
    return json(400, { error: `unknown time zone ${timeZone}` });
  const policy = b.rewardPolicy === undefined ? DEFAULT_POLICY : parsePolicy(b.rewardPolicy);
  const [row] = await ctx.sql<{ id: string }[]>`
    insert into stores (id, business_id, code, name, language, time_zone, reward_policy)
    values (gen_random_uuid(), ${businessId}, ${code}, ${name}, ${language}, ${timeZone}, ${ctx.sql.json(policy as never)})
    on conflict (code) do nothing returning id`;
  if (!row) return json(409, { error: `store code ${code} is taken` });
  await audit(ctx, req, "store.create", `store:${code}`, businessId, { name });
  return json(201, { id: row.id, code, name, language, timeZone, rewardPolicy: policy });
}

async function setBudget(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const amount = body(req).dailyBudgetMinor;
  if (!Number.isInteger(amount) || (amount as number) < 0 || (amount as number) > 1e10)
    return json(400, { error: "dailyBudgetMinor must be a non-negative integer (öre)" });
  await ctx.sql`update businesses set daily_budget_minor = ${amount as number} where id = ${businessId}`;
  await audit(ctx, req, "budget.set", `business:${businessId}`, businessId, { dailyBudgetMinor: amount });
  return json(200, { dailyBudgetMinor: amount });
}

async function setPolicy(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const store = await ownStore(ctx, req, req.params.storeCode);
  if (!store) return notFound();
  const policy = parsePolicy(body(req));
  await ctx.sql`update stores set reward_policy = ${ctx.sql.json(policy as never)} where id = ${store.id}`;
  await audit(ctx, req, "reward_policy.set", `store:${store.code}`, store.business_id, { policy });
  return json(200, { rewardPolicy: policy });
}

async function listSessions(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const store = await ownStore(ctx, req, req.params.storeCode);
  if (!store) return notFound();
  const limit = Math.min(500, Math.max(1, Number(req.query.get("limit") ?? 100) || 100));
  const rows = await ctx.sql`
    select s.id, s.status, s.started_at, s.ended_at, s.end_reason, f.score, f.topics, f.sentiment,
           r.amount_minor, r.currency, r.status as reward_status,
           coalesce((select array_agg(rule order by rule) from fraud_flags ff where ff.session_id = s.id), '{}') as flags
    from sessions s
    left join final_scores f on f.session_id = s.id
    left join rewards r on r.session_id = s.id
    where s.store_id = ${store.id}
    order by s.created_at desc limit ${limit}`;
  return json(200, {
    sessions: rows.map((r) => ({
      id: r.id,
      status: r.status,
      startedAt: r.started_at,
      endedAt: r.ended_at,
      endReason: r.end_reason,
      score: r.score,
      topics: r.topics,
      sentiment: r.sentiment,
      reward: r.reward_status ? { amountMinor: r.amount_minor, currency: r.currency, status: r.reward_status } : null,
      flags: r.flags,
    })),
  });
}

/** One session in full, for the business that owns it (staff: if of one of their stores), or an admin. */
async function getFeedback(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = req.params.sessionId ?? "";
  if (!UUID.test(sessionId)) return notFound();
  const data = await sessionData(ctx.sql, sessionId);
  if (!data || !ownBusiness(req, data.businessId) || !allowedStore(req, data.store.code)) return notFound();
  await audit(ctx, req, "feedback.read", `session:${sessionId}`, data.businessId);
  return json(200, data);
}

async function listRewards(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const rows = await ctx.sql`
    select r.id, r.session_id, st.code as store_code, r.amount_minor, r.currency, r.status, r.reason, r.created_at, r.updated_at
    from rewards r join stores st on st.id = r.store_id
    where r.business_id = ${businessId} and ${inAllowedStores(ctx.sql, req)}
    order by r.created_at desc limit 500`;
  return json(200, {
    rewards: rows.map((r) => ({
      id: r.id,
      sessionId: r.session_id,
      storeCode: r.store_code,
      amountMinor: r.amount_minor,
      currency: r.currency,
      status: r.status,
      reason: r.reason,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    })),
  });
}

async function listAudit(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const rows = await ctx.sql`
    select at, actor, actor_user_id, action, target, detail from audit_log
    where business_id = ${businessId} order by id desc limit 500`;
  return json(200, { entries: rows });
}

/** The business's feedback as CSV (one row per conversation), optionally from/to (ISO dates). */
async function exportCsv(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const from = parseDate(req.query.get("from")) ?? new Date(0);
  const to = parseDate(req.query.get("to")) ?? new Date(ctx.now() + 86_400_000);
  const rows = await ctx.sql`
    select s.id, st.code as store_code, s.started_at, s.ended_at, s.end_reason,
           f.score, f.specificity, f.actionability, f.sentiment, f.relevance, f.topics, f.summary,
           (select string_agg(text, ' ' order by start_ms, segment_id) from transcript_segments t where t.session_id = s.id) as transcript,
           r.amount_minor, r.currency, r.status as reward_status,
           (select string_agg(rule, ';' order by rule) from fraud_flags ff where ff.session_id = s.id) as flags
    from sessions s join stores st on st.id = s.store_id
    left join final_scores f on f.session_id = s.id
    left join rewards r on r.session_id = s.id
    where s.business_id = ${businessId} and ${inAllowedStores(ctx.sql, req)}
      and s.created_at >= ${from} and s.created_at < ${to}
    order by s.created_at`;
  const header = [
    "session_id",
    "store_code",
    "started_at",
    "ended_at",
    "end_reason",
    "score",
    "specificity",
    "actionability",
    "sentiment",
    "relevance",
    "topics",
    "summary",
    "transcript",
    "reward_minor",
    "currency",
    "reward_status",
    "flags",
  ];
  const lines = [header.join(",")];
  for (const r of rows)
    lines.push(
      [
        r.id,
        r.store_code,
        iso(r.started_at),
        iso(r.ended_at),
        r.end_reason,
        r.score,
        r.specificity,
        r.actionability,
        r.sentiment,
        r.relevance,
        (r.topics as string[] | null)?.join(";"),
        r.summary,
        r.transcript,
        r.amount_minor,
        r.currency,
        r.reward_status,
        r.flags,
      ]
        .map(csvCell)
        .join(","),
    );
  await audit(ctx, req, "feedback.export", `business:${businessId}`, businessId, { rows: rows.length });
  return {
    status: 200,
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="feedback-${businessId}.csv"`,
      "cache-control": "no-store",
    },
    body: `${lines.join("\r\n")}\r\n`,
  };
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : "");
function parseDate(v: string | null): Date | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `not a date: ${v}`);
  return d;
}

/** RFC 4180 quoting; cells that a spreadsheet would run as a formula get a leading apostrophe. */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let s = String(value);
  if (/^[=+\-@\t\r]/.test(s) && typeof value === "string") s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

// ── staff ────────────────────────────────────────────────────────────────────

/** A user row with the codes of the stores they are limited to. */
interface UserRow {
  id: string;
  role: Role;
  business_id: string | null;
  /** Staff only: limited to `store_codes`, which may be empty (their stores were deleted: none). */
  store_limited: boolean;
  store_codes: string[];
}

/** The codes of `users u`'s stores, of their own business only, sorted. */
const storesOfUser = (sql: Sql) => sql`
  coalesce((select array_agg(st.code order by st.code) from user_stores us
            join stores st on st.id = us.store_id and st.business_id = u.business_id
            where us.user_id = u.id), '{}')`;

/**
 * The `stores` claim a login issues: the codes of a limited staff member's stores (an empty list
 * when they have none left, which limits them to no store); undefined for everyone else.
 */
function tokenStores(row: UserRow): string[] | undefined {
  return row.role === "staff" && row.store_limited ? row.store_codes : undefined;
}

async function listUsers(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const rows = await ctx.sql<(UserRow & { email: string; created_at: Date })[]>`
    select u.id, u.email, u.role, u.business_id, u.store_limited, u.created_at, ${storesOfUser(ctx.sql)} as store_codes
    from users u where u.business_id = ${businessId} order by u.role, u.email`;
  return json(200, {
    users: rows.map((r) => ({
      id: r.id,
      email: r.email,
      role: r.role,
      stores: tokenStores(r) ?? null,
      createdAt: r.created_at,
    })),
  });
}

/** A new staff member, perhaps limited to some stores of the business (`stores`; absent or null: every store). */
async function createStaff(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  if (!businessId) return notFound();
  const b = body(req);
  const email = newEmail(b.email);
  const password = newPassword(b.password);
  const stores = storeCodesOf(b.stores);
  const passwordHash = await hashPassword(password);
  const id = await ctx.sql.begin(async (tx) => {
    const [row] = await tx<{ id: string }[]>`
      insert into users (id, email, password_hash, role, business_id)
      values (gen_random_uuid(), ${email}, ${passwordHash}, 'staff', ${businessId})
      on conflict (email) do nothing returning id`;
    if (row) await limitToStores(tx, businessId, row.id, stores);
    return row?.id;
  });
  if (!id) return json(409, { error: "a user with this e-mail already exists" });
  await audit(ctx, req, "staff.create", `user:${id}`, businessId, { email, stores: stores ?? null });
  return json(201, { id, email, role: "staff", stores: stores ?? null });
}

/**
 * Limits a staff member to some stores (`stores`: codes; [] for none; null for every store). Their
 * tokens are stateless: the change reaches them at their next login, not in a token they hold.
 */
async function setStaffStores(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  const userId = req.params.userId ?? "";
  if (!businessId || !UUID.test(userId)) return notFound();
  const b = body(req);
  if (!("stores" in b)) return json(400, { error: "stores is required: store codes, or null for every store" });
  const stores = storeCodesOf(b.stores);
  const found = await ctx.sql.begin(async (tx) => {
    // Locked, so that two changes at once leave one of the lists, not a mix.
    const [staff] = await tx`
      select id from users where id = ${userId} and business_id = ${businessId} and role = 'staff' for update`;
    if (staff) await limitToStores(tx, businessId, userId, stores);
    return !!staff;
  });
  if (!found) return notFound();
  await audit(ctx, req, "staff_stores.set", `user:${userId}`, businessId, { stores: stores ?? null });
  return json(200, { id: userId, stores: stores ?? null });
}

/** Removes a staff member (never an owner). A token they already hold stays valid until it expires. */
async function removeStaff(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = ownBusiness(req, req.params.businessId);
  const userId = req.params.userId ?? "";
  if (!businessId || !UUID.test(userId)) return notFound();
  const [row] = await ctx.sql<{ email: string }[]>`
    delete from users where id = ${userId} and business_id = ${businessId} and role = 'staff' returning email`;
  if (!row) return notFound();
  await audit(ctx, req, "staff.delete", `user:${userId}`, businessId, { email: row.email });
  return json(200, { id: userId, deleted: true });
}

/** Replaces a staff member's stores: codes of this business (undefined: every store). */
async function limitToStores(
  tx: TransactionSql,
  businessId: string,
  userId: string,
  codes: readonly string[] | undefined,
): Promise<void> {
  const storeIds = codes === undefined ? [] : await businessStoreIds(tx, businessId, codes);
  await tx`update users set store_limited = ${codes !== undefined} where id = ${userId}`;
  await tx`delete from user_stores where user_id = ${userId}`;
  if (storeIds.length > 0)
    await tx`insert into user_stores (user_id, store_id) select ${userId}, unnest(${storeIds}::uuid[])`;
}

/** The ids of these stores of the business; a code it has not is refused alike whether or not another business has it. */
async function businessStoreIds(tx: TransactionSql, businessId: string, codes: readonly string[]): Promise<string[]> {
  const rows = await tx<{ id: string; code: string }[]>`
    select id, code from stores where business_id = ${businessId} and code = any(${codes}::text[])`;
  const found = new Set(rows.map((r) => r.code));
  const unknown = codes.filter((c) => !found.has(c));
  if (unknown.length > 0)
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `no store ${unknown.join(", ")} in this business`);
  return rows.map((r) => r.id);
}

/** A body's `stores`: distinct, sorted store codes; undefined (every store) when absent or null. */
function storeCodesOf(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.length > MAX_STAFF_STORES || !value.every((c) => typeof c === "string"))
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "stores must be a list of store codes, or null for every store");
  const bad = value.find((c) => !STORE_CODE.test(c));
  if (bad !== undefined)
    throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "store codes are 2–64 letters, digits, '-' or '_'");
  return [...new Set(value as string[])].sort();
}

/** A new user's e-mail, as login will look it up (trimmed, lower case). */
function newEmail(value: unknown): string {
  const email = typeof value === "string" ? value.trim().toLowerCase() : "";
  if (email.length > MAX_EMAIL_LENGTH || !EMAIL_SHAPE.test(email))
    throw new ParleyError(
      ErrorCode.INVALID_ARGUMENT,
      `email must be an e-mail address (at most ${MAX_EMAIL_LENGTH} characters)`,
    );
  return email;
}

function newPassword(value: unknown): string {
  const password = typeof value === "string" ? value : "";
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH)
    throw new ParleyError(
      ErrorCode.INVALID_ARGUMENT,
      `password must be ${MIN_PASSWORD_LENGTH}–${MAX_PASSWORD_LENGTH} characters`,
    );
  return password;
}

// ── customers ────────────────────────────────────────────────────────────────

export interface SessionData {
  sessionId: string;
  businessId: string;
  store: { code: string; name: string };
  createdAt: Date;
  consentGivenAt: Date | null;
  consentVersion: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  endReason: string | null;
  transcript: { segmentId: number; text: string; startMs: number; endMs: number; words: unknown }[];
  scores: { seq: number; score: number; at: Date }[];
  finalScore: Record<string, unknown> | null;
  questions: { turn: number; text: string }[];
  reward: { id: string; amountMinor: number; currency: string; status: string; reason: string } | null;
  flags: { rule: string; severity: string }[];
  redactedAt: Date | null;
}

export async function sessionData(sql: Sql, sessionId: string): Promise<SessionData | undefined> {
  const [s] = await sql`
    select s.*, st.code as store_code, st.name as store_name from sessions s join stores st on st.id = s.store_id
    where s.id = ${sessionId}`;
  if (!s) return undefined;
  const [segments, scores, finals, questions, rewards, flags] = await Promise.all([
    sql`select segment_id, text, start_ms, end_ms, words from transcript_segments where session_id = ${sessionId} order by start_ms, segment_id`,
    sql`select seq, score, scored_at from score_updates where session_id = ${sessionId} order by seq`,
    sql`select score, specificity, actionability, sentiment, relevance, topics, summary, engine from final_scores where session_id = ${sessionId}`,
    sql`select turn, text from ai_questions where session_id = ${sessionId} order by turn`,
    sql`select id, amount_minor, currency, status, reason from rewards where session_id = ${sessionId}`,
    sql`select rule, severity from fraud_flags where session_id = ${sessionId} order by rule`,
  ]);
  const reward = rewards[0];
  return {
    sessionId,
    businessId: s.business_id,
    store: { code: s.store_code, name: s.store_name },
    createdAt: s.created_at,
    consentGivenAt: s.consent_given_at,
    consentVersion: s.consent_version,
    startedAt: s.started_at,
    endedAt: s.ended_at,
    endReason: s.end_reason,
    transcript: segments.map((t) => ({
      segmentId: t.segment_id,
      text: t.text,
      startMs: t.start_ms,
      endMs: t.end_ms,
      words: t.words,
    })),
    scores: scores.map((x) => ({ seq: x.seq, score: x.score, at: x.scored_at })),
    finalScore: finals[0] ?? null,
    questions: questions.map((q) => ({ turn: q.turn, text: q.text })),
    reward: reward
      ? {
          id: reward.id,
          amountMinor: reward.amount_minor,
          currency: reward.currency,
          status: reward.status,
          reason: reward.reason,
        }
      : null,
    flags: flags.map((f) => ({ rule: f.rule, severity: f.severity })),
    redactedAt: s.redacted_at,
  };
}

async function customerData(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const data = await sessionData(ctx.sql, sessionId);
  if (!data) return notFound();
  await audit(ctx, req, "customer.access", `session:${sessionId}`, data.businessId);
  const { businessId: _b, ...mine } = data;
  return json(200, {
    ...mine,
    retention: {
      transcriptAndScoresDays: ctx.dataRetentionDays,
      voiceDataHours: ctx.voiceRetentionHours,
      rawAudioKept: false,
    },
  });
}

async function customerDelete(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const now = new Date(ctx.now());
  type Outcome =
    | { kind: "live"; retryMs: number }
    | { kind: "deleted"; businessId: string; storeCode: string; counts: RetentionCounts };
  const result = await ctx.sql.begin(async (tx): Promise<Outcome | undefined> => {
    const [s] = await tx<
      { business_id: string; store_code: string; status: string; created_at: Date }[]
    >`select s.business_id, st.code as store_code, s.status, s.created_at
      from sessions s join stores st on st.id = s.store_id where s.id = ${sessionId} for update of s`;
    if (!s) return undefined;
    // Deleted mid-conversation, what is said afterwards would still be written and shown to the
    // business, with the data code gone: the customer ends the conversation first. A session that
    // never ended (its node died) is deletable once it can no longer be going.
    const liveUntil = s.created_at.getTime() + ctx.sessionLiveLimitMs;
    if (s.status === "open" && liveUntil > now.getTime()) return { kind: "live", retryMs: liveUntil - now.getTime() };
    const counts = await redactSessions(tx, [sessionId], now, { keepFraudEvidence: true });
    await tx`update sessions set deleted_by_customer_at = ${now} where id = ${sessionId}`;
    return { kind: "deleted", businessId: s.business_id, storeCode: s.store_code, counts };
  });
  if (!result) return notFound();
  if (result.kind === "live")
    return json(
      409,
      { error: "the conversation is still going: end it first, then delete its data" },
      { "retry-after": String(Math.ceil(result.retryMs / 1000)) },
    );
  ctx.logger.info({ sessionId, deleted: result.counts }, "customer deleted their data");
  await audit(ctx, req, "customer.delete", `session:${sessionId}`, result.businessId, result.counts);
  ctx.onCustomerDeleted?.({ sessionId, businessId: result.businessId, storeCode: result.storeCode });
  // The data code went with the rest: this session can no longer be opened with it.
  return json(200, { deleted: result.counts });
}

async function claimReward(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  if (!ctx.payouts) return json(503, { error: "payouts are not configured on this deployment (STRIPE_SECRET_KEY)" });
  const [reward] = await ctx.sql<{ id: string; business_id: string }[]>`
    select id, business_id from rewards where session_id = ${sessionId}`;
  if (!reward) return json(404, { error: "no reward for this session (yet)" });
  const result = await ctx.payouts.claim(reward.id);
  if (result.status === "paying")
    void ctx.payouts
      .pay(reward.id)
      .catch((error: unknown) => ctx.logger.error({ sessionId, err: error }, "reward payment failed"));
  await audit(ctx, req, "reward.claim", `reward:${reward.id}`, reward.business_id, { status: result.status });
  return json(200, result);
}

async function stripeWebhook(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  if (!ctx.payouts) return json(503, { error: "Stripe is not configured" });
  const { status, body: reply } = await ctx.payouts.handleWebhook(req.rawBody, req.headers["stripe-signature"]);
  return json(status, reply);
}
