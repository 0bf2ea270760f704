// The records package's REST routes. Every route states who may call it; the
// tenancy rule is the same everywhere: admins see every business, owners and
// staff only their own (another business's resources answer 404, as if they
// did not exist), staff only read, and staff whose token names some stores
// only those (another store's resources answer 404 alike, lists leave them
// out). Customers reach their one session with the data code they were given.
// Business reads and exports of personal data and every change are written to
// the audit log. Owners manage their staff (staffRoutes.ts).
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Logger } from "pino";
import type { Sql } from "postgres";
import Stripe from "stripe";
import { DUMMY_HASH, verifyPassword } from "../auth/password.ts";
import { addressKey } from "../auth/RateLimiter.ts";
import { loginRead } from "../auth/TokenRevocations.ts";
import { issueUserToken, limitedStores, verifyUserToken } from "../auth/token.ts";
import { FOREIGN_KEY_VIOLATION, isInvalidValueDbError, isRetryableDbError } from "../db/errors.ts";
import type { ClaimResult, PayoutError } from "../payments/StripePayouts.ts";
import { type RetentionCounts, redactSessions } from "../privacy/RetentionJob.ts";
import { DEFAULT_POLICY, parsePolicy } from "../rewards/policy.ts";
import {
  allowedStore,
  audit,
  body,
  contentKept,
  inAllowedStores,
  MAX_EMAIL_LENGTH,
  notFound,
  ownBusiness,
  ownStore,
  routeBusiness,
  STORE_CODE,
  UUID,
  user,
} from "./access.ts";
import type { RecordsRateLimit, RouteContext } from "./context.ts";
import { type CsvPage, feedbackCsvPages, parseExportBound } from "./feedbackCsv.ts";
import { beforeCursor, CURSOR_TIME_FORMAT, type Cursor, isReply, MAX_PAGE, page, pageLimit } from "./pages.ts";
import {
  createStaff,
  listUsers,
  removeStaff,
  setStaffStores,
  storesOfUser,
  tokenStores,
  type UserRow,
} from "./staffRoutes.ts";
import {
  DEFAULT_LANGUAGE,
  DEFAULT_TIME_ZONE,
  storeCurrency,
  storeLanguage,
  storeName,
  storeTimeZone,
} from "./storeFields.ts";
import { type Auth, json, type Method, type RecordsRequest, type RecordsResponse, type Route } from "./types.ts";

export { csvCell } from "./feedbackCsv.ts";
export type { RouteContext };

type Access = "public" | "user" | "owner" | "customer" | "stripe";
type Handler = (req: RecordsRequest, ctx: RouteContext) => Promise<RecordsResponse>;

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
    route("PATCH", "/api/businesses/:businessId/stores/:storeCode", "owner", updateStore),
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
    route("POST", "/api/feedback/lookup", "user", lookupFeedback),
    route("POST", "/api/customer/lookup", "public", customerLookup),
    route("GET", "/api/customer/sessions/:sessionId", "customer", customerData),
    route("DELETE", "/api/customer/sessions/:sessionId", "customer", customerDelete),
    route("GET", "/api/customer/sessions/:sessionId/reward", "customer", customerReward),
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
    const sessionWait = ctx.loginLimiter.retryAfterMs(sessionKey);
    if (addressWait > 0 || sessionWait > 0) {
      return tooMany(
        ctx,
        addressWait >= sessionWait ? "data-code-address" : "data-code",
        Math.max(sessionWait, addressWait),
      );
    }
    // Counted before the check's await: guesses sent at once each see the others.
    const settle = [ctx.loginLimiter.begin(sessionKey), ctx.codeAddressLimiter.begin(address)];
    const ok = await unlessUnknown(settle, () => ctx.verifyDataCode(sessionId, code));
    for (const s of settle) s(ok);
    // A wrong code and an unknown session look the same.
    return ok ? { kind: "customer", sessionId } : json(401, { error: "wrong session or data code" });
  }
  const header = req.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const claims = token ? verifyUserToken(ctx.authSecret, token, ctx.now()) : undefined;
  if (!claims) return json(401, { error: "log in first (Authorization: Bearer <token>)" });
  if (await ctx.revocations.revoked(claims))
    return json(401, { error: "your access changed: log in again (Authorization: Bearer <token>)" });
  if (access === "owner" && claims.role === "staff") return json(403, { error: "staff may only read" });
  return {
    kind: "user",
    userId: claims.sub,
    role: claims.role,
    businessId: claims.bid,
    storeCodes: limitedStores(claims),
  };
}

/** Runs an attempt's check; if it cannot be made (it throws: the database away), the attempt is not counted. */
async function unlessUnknown<T>(settle: ((outcome: "unknown") => void)[], check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    for (const s of settle) s("unknown");
    throw error;
  }
}

function tooMany(ctx: RouteContext, limit: RecordsRateLimit, waitMs: number): RecordsResponse {
  ctx.onRateLimited?.(limit);
  return json(
    429,
    { error: "too many attempts, try again later" },
    { "retry-after": String(Math.ceil(waitMs / 1000)) },
  );
}

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
    const retry: Record<string, string> =
      error.retryAfterMs > 0 ? { "retry-after": String(Math.ceil(error.retryAfterMs / 1000)) } : {};
    return json(status, { error: error.message, code: error.label }, retry);
  }
  if (isRetryableDbError(error))
    return json(503, { error: "the database is not reachable now: try again shortly" }, { "retry-after": "1" });
  if (isInvalidValueDbError(error)) {
    logger.warn({ err: error, method, route: path }, "records route: a value the database refused");
    return json(400, { error: "a value in this request cannot be stored or looked up" });
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
  // Failures are counted per e-mail (LOGIN_RATE_LIMIT_MAX a window, from every address together:
  // guessing one account's password) and per address (ADDRESS_LIMIT_FACTOR times that: one address
  // spraying many accounts). The address's cap is the looser one so that people behind one address
  // (a shop's NAT) are not refused their own correct passwords because a colleague mistyped theirs;
  // the colleague's account alone is locked, even to its right password, until its window passes.
  // A blocked address is answered before its e-mail key is looked at: a flood of new e-mails costs nothing.
  const address = addressKey(req.ip);
  const addressWait = ctx.loginAddressLimiter.retryAfterMs(address);
  if (addressWait > 0) return tooMany(ctx, "login-address", addressWait);
  const emailKey = `email:${email}`;
  const emailWait = ctx.loginLimiter.retryAfterMs(emailKey);
  if (emailWait > 0) return tooMany(ctx, "login", emailWait);
  // Counted before the awaits (the database, scrypt: tens of ms): logins sent at once each see the
  // others, or a burst would all pass the check above before the first failure was counted.
  const settle = [ctx.loginAddressLimiter.begin(address), ctx.loginLimiter.begin(emailKey)];
  // Under a share lock, with the database's time of the read as the token's iat: a change to this
  // user made meanwhile (removed, stores changed) withdraws the token (see TokenRevocations).
  const { row: rows, readAt } = await unlessUnknown(settle, () =>
    loginRead(
      ctx.sql,
      (tx) => tx<(UserRow & { password_hash: string })[]>`
      select u.id, u.password_hash, u.role, u.business_id, u.store_limited, ${storesOfUser(tx)} as store_codes
      from users u where u.email = ${email} for share of u`,
    ),
  );
  const row = rows[0];
  // Hash even for an unknown e-mail, so timing does not tell which addresses exist.
  const ok = await verifyPassword(password, row?.password_hash ?? DUMMY_HASH);
  for (const s of settle) s(ok && !!row);
  if (!ok || !row) {
    ctx.logger.info({ ip: req.ip }, "login failed");
    return json(401, { error: "wrong e-mail or password" });
  }
  const now = ctx.now();
  const exp = Math.floor((now + ctx.userTokenTtlMs) / 1000);
  // Read once, here: when the owner changes the list later, the change withdraws this token.
  const stores = tokenStores(row);
  const token = issueUserToken(ctx.authSecret, {
    sub: row.id,
    role: row.role,
    bid: row.business_id,
    exp,
    iat: readAt / 1000,
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
      ? await ctx.sql`select id, name, time_zone, currency, country, daily_budget_minor from businesses order by name`
      : await ctx.sql`select id, name, time_zone, currency, country, daily_budget_minor from businesses where id = ${auth.businessId}`;
  return json(200, { businesses: rows.map(businessJson) });
}

const businessJson = (r: Record<string, unknown>) => ({
  id: r.id,
  name: r.name,
  timeZone: r.time_zone,
  currency: r.currency,
  country: r.country,
  dailyBudgetMinor: r.daily_budget_minor,
});

async function listStores(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const rows = await ctx.sql<StoreRow[]>`
    select st.id, st.code, st.name, st.language, st.time_zone, st.reward_policy, b.currency
    from stores st join businesses b on b.id = st.business_id
    where st.business_id = ${businessId} and ${inAllowedStores(ctx.sql, req)} order by st.code`;
  return json(200, { stores: rows.map(storeJson) });
}

interface StoreRow {
  id: string;
  code: string;
  name: string;
  language: string;
  time_zone: string;
  reward_policy: unknown;
  /** Its business's. */
  currency: string;
}

const storeJson = (r: StoreRow) => ({
  id: r.id,
  code: r.code,
  name: r.name,
  language: r.language,
  timeZone: r.time_zone,
  currency: r.currency,
  rewardPolicy: r.reward_policy,
});

/** The business's currency, which its stores' rewards are paid in; undefined when it does not exist. */
async function businessCurrency(ctx: RouteContext, businessId: string): Promise<string | undefined> {
  const [row] = await ctx.sql<{ currency: string }[]>`select currency from businesses where id = ${businessId}`;
  return row?.currency;
}

async function createStore(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const b = body(req);
  const code = typeof b.code === "string" ? b.code : "";
  if (!STORE_CODE.test(code)) return json(400, { error: "code must be 2–64 letters, digits, '-' or '_'" });
  const name = storeName(b.name);
  const language = b.language === undefined ? DEFAULT_LANGUAGE : storeLanguage(b.language);
  const timeZone = b.timeZone === undefined ? DEFAULT_TIME_ZONE : storeTimeZone(b.timeZone);
  const policy = b.rewardPolicy === undefined ? DEFAULT_POLICY : parsePolicy(b.rewardPolicy);
  const currency = await businessCurrency(ctx, businessId);
  if (currency === undefined) return notFound();
  if (b.currency !== undefined) storeCurrency(b.currency, currency);
  let row: { id: string } | undefined;
  try {
    [row] = await ctx.sql<{ id: string }[]>`
      insert into stores (id, business_id, code, name, language, time_zone, reward_policy)
      values (gen_random_uuid(), ${businessId}, ${code}, ${name}, ${language}, ${timeZone}, ${ctx.sql.json(policy as never)})
      on conflict (code) do nothing returning id`;
  } catch (error) {
    // foreign_key_violation: no such business (only an admin names one that is not theirs).
    if ((error as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) return notFound();
    throw error;
  }
  if (!row) return json(409, { error: `store code ${code} is taken` });
  await audit(ctx, req, "store.create", `store:${code}`, businessId, { name, language, timeZone });
  return json(201, { id: row.id, code, name, language, timeZone, currency, rewardPolicy: policy });
}

/** What PATCH …/stores/:storeCode may change (the reward policy has its own route). */
const STORE_FIELDS = ["name", "language", "timeZone", "currency"] as const;

/**
 * Changes a store's name, language, time zone (checked as createStore checks them); `currency` may
 * only name the business's. A conversation keeps the language it started in (its session row): a
 * new language holds for conversations created afterwards (on this node at once, on others within
 * their store cache's 30 s). Another business's store answers 404 as an unknown one does.
 */
async function updateStore(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  const code = req.params.storeCode ?? "";
  if (!businessId || !STORE_CODE.test(code)) return notFound();
  const b = body(req);
  const fields = STORE_FIELDS.join(", ");
  const unknown = Object.keys(b).filter((k) => !(STORE_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0)
    return json(400, { error: `${unknown.join(", ")} cannot be changed here; send any of ${fields}` });
  if (STORE_FIELDS.every((k) => b[k] === undefined)) return json(400, { error: `send any of ${fields}` });
  const wanted = {
    name: b.name === undefined ? undefined : storeName(b.name),
    language: b.language === undefined ? undefined : storeLanguage(b.language),
    time_zone: b.timeZone === undefined ? undefined : storeTimeZone(b.timeZone),
  };
  type Change = { from: unknown; to: unknown };
  const result = await ctx.sql.begin(async (tx) => {
    // Locked: two changes at once each see the other's result, and the audit's `from` is what was replaced.
    const [old] = await tx<StoreRow[]>`
      select st.id, st.code, st.name, st.language, st.time_zone, st.reward_policy, b.currency
      from stores st join businesses b on b.id = st.business_id
      where st.code = ${code} and st.business_id = ${businessId} for update of st`;
    if (!old) return undefined;
    if (b.currency !== undefined) storeCurrency(b.currency, old.currency);
    const store: StoreRow = {
      ...old,
      name: wanted.name ?? old.name,
      language: wanted.language ?? old.language,
      time_zone: wanted.time_zone ?? old.time_zone,
    };
    const changes: Record<string, Change> = {};
    if (store.name !== old.name) changes.name = { from: old.name, to: store.name };
    if (store.language !== old.language) changes.language = { from: old.language, to: store.language };
    if (store.time_zone !== old.time_zone) changes.timeZone = { from: old.time_zone, to: store.time_zone };
    if (Object.keys(changes).length > 0)
      await tx`update stores set name = ${store.name}, language = ${store.language}, time_zone = ${store.time_zone}
               where id = ${old.id}`;
    return { store, changes };
  });
  if (!result) return notFound();
  await audit(ctx, req, "store.update", `store:${code}`, businessId, { changes: result.changes });
  if (Object.keys(result.changes).length > 0) ctx.onStoreChanged?.(code);
  return json(200, storeJson(result.store));
}

async function setBudget(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const amount = body(req).dailyBudgetMinor;
  if (!Number.isInteger(amount) || (amount as number) < 0 || (amount as number) > 1e10)
    return json(400, { error: "dailyBudgetMinor must be a non-negative integer (öre)" });
  const updated =
    await ctx.sql`update businesses set daily_budget_minor = ${amount as number} where id = ${businessId}`;
  // No such business (only an admin names one that is not theirs): nothing was set.
  if (updated.count === 0) return notFound();
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
  const limit = pageLimit(req, 100);
  const before = beforeCursor(req, "sessions", "time");
  if (isReply(before)) return before;
  const rows = await ctx.sql`
    select s.id, s.status, s.started_at, s.ended_at, s.end_reason, f.score, f.topics, f.sentiment,
           r.amount_minor, r.currency, r.status as reward_status,
           coalesce((select array_agg(rule order by rule) from fraud_flags ff where ff.session_id = s.id), '{}') as flags,
           to_char(s.created_at at time zone 'UTC', ${CURSOR_TIME_FORMAT}) as page_at
    from sessions s
    left join final_scores f on f.session_id = s.id and ${contentKept(ctx.sql)}
    left join rewards r on r.session_id = s.id
    where s.store_id = ${store.id} and ${timeBefore(ctx.sql, "s", before)}
    order by s.created_at desc, s.id desc limit ${limit + 1}`;
  const { rows: shown, next } = page(rows, limit, (r) => [r.page_at, r.id], "sessions");
  return json(200, {
    next,
    sessions: shown.map((r) => ({
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

/**
 * A conversation of the caller's business found by its customer's data code (`{dataCode}` →
 * `{sessionId, storeCode}`, then GET /api/feedback/:sessionId): the customer's way to be helped with
 * a reward the app cannot settle (a failed payout, a refused claim) without telling anyone more than
 * the code shows them. Another business's code, or a store a staff member may not see, answers 404
 * as an unknown one does; guesses are limited per address as the customer's are, and each is audited.
 */
async function lookupFeedback(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const found = await byDataCode(req, ctx, async (sessionId) => {
    const [s] = await ctx.sql<{ business_id: string; store_code: string }[]>`
      select s.business_id, st.code as store_code from sessions s join stores st on st.id = s.store_id
      where s.id = ${sessionId}`;
    return s && ownBusiness(req, s.business_id) && allowedStore(req, s.store_code) ? { sessionId, ...s } : undefined;
  });
  if (isReply(found)) return found;
  await audit(
    ctx,
    req,
    "feedback.lookup",
    found ? `session:${found.sessionId}` : "data-code",
    found?.business_id ?? null,
    {
      found: found !== undefined,
    },
  );
  if (!found) return json(404, { error: "no conversation of yours has this data code" });
  return json(200, { sessionId: found.sessionId, storeCode: found.store_code });
}

async function listRewards(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const limit = pageLimit(req, MAX_PAGE);
  const before = beforeCursor(req, "rewards", "time");
  if (isReply(before)) return before;
  const rows = await ctx.sql`
    select r.id, r.session_id, st.code as store_code, r.amount_minor, r.currency, r.status, r.reason, r.created_at, r.updated_at,
           to_char(r.created_at at time zone 'UTC', ${CURSOR_TIME_FORMAT}) as page_at
    from rewards r join stores st on st.id = r.store_id
    where r.business_id = ${businessId} and ${inAllowedStores(ctx.sql, req)} and ${timeBefore(ctx.sql, "r", before)}
    order by r.created_at desc, r.id desc limit ${limit + 1}`;
  const { rows: shown, next } = page(rows, limit, (r) => [r.page_at, r.id], "rewards");
  return json(200, {
    next,
    rewards: shown.map((r) => ({
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
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const limit = pageLimit(req, MAX_PAGE);
  const before = beforeCursor(req, "audit", "id");
  if (isReply(before)) return before;
  const rows = await ctx.sql<{ id: number }[]>`
    select id, at, actor, actor_user_id, action, target, detail from audit_log
    where business_id = ${businessId} and ${before?.kind === "id" ? ctx.sql`id < ${before.id}` : ctx.sql`true`}
    order by id desc limit ${limit + 1}`;
  const { rows: shown, next } = page(rows, limit, (r) => [r.id], "audit");
  // Each entry as it always was (its id only in the cursor).
  return json(200, { next, entries: shown.map(({ id: _id, ...entry }) => entry) });
}

/** Rows of `alias` (a sessions or rewards row) older than the cursor, by (created_at, id); every row without one. */
function timeBefore(sql: Sql, alias: "s" | "r", before: Cursor | undefined) {
  if (before?.kind !== "time") return sql`true`;
  const createdAt = alias === "s" ? sql`s.created_at` : sql`r.created_at`;
  const id = alias === "s" ? sql`s.id` : sql`r.id`;
  // Sent as text: a parameter typed timestamptz goes through postgres.js's Date, which keeps milliseconds.
  return sql`(${createdAt}, ${id}) < (${before.at}::text::timestamptz, ${before.id}::uuid)`;
}

/**
 * The business's feedback as CSV (one row per conversation), optionally from/to (ISO dates, see feedbackCsv.ts).
 * Streamed page by page (BodyStream): however many years it spans, the node holds about a page of it at a
 * time, and a download the client aborts stops reading the database (the adapter returns the stream).
 */
async function exportCsv(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const from = parseExportBound("from", req.query.get("from"));
  const to = parseExportBound("to", req.query.get("to")) ?? { date: new Date(ctx.now() + 86_400_000) };
  const pages = feedbackCsvPages(ctx.sql, { businessId, stores: inAllowedStores(ctx.sql, req), from, to });
  // The header and the first page are read before answering: a failure to start (the database down)
  // still gets its status (errorReply), where one after the 200 can only cut the connection.
  const first: CsvPage[] = [];
  for (let i = 0; i < 2; i++) {
    const next = await pages.next();
    if (next.done) break;
    first.push(next.value);
  }
  const target = `business:${businessId}`;
  const body = async function* (): AsyncGenerator<Uint8Array, void, undefined> {
    let rows = 0;
    let complete = false;
    try {
      for (const page of first) {
        rows += page.rows;
        yield page.csv;
      }
      for await (const page of pages) {
        rows += page.rows;
        yield page.csv;
      }
      complete = true;
      // Before the reply's end is written: an export that cannot be audited reaches the client cut short
      // (as it got a 500 when it was sent whole).
      await audit(ctx, req, "feedback.export", target, businessId, { rows });
    } finally {
      if (!complete) {
        await pages.return(); // left during `first`: a no-op otherwise
        // Cut short (the client left, or a page failed): audited too, as part of it went out.
        await audit(ctx, req, "feedback.export", target, businessId, { rows, complete: false }).catch((err) =>
          ctx.logger.error({ err, businessId }, "audit of an export cut short failed"),
        );
      }
    }
  };
  return {
    status: 200,
    headers: {
      "content-type": "text/csv; charset=utf-8",
      "content-disposition": `attachment; filename="feedback-${businessId}.csv"`,
      "cache-control": "no-store",
    },
    body: body(),
  };
}

// ── customers ────────────────────────────────────────────────────────────────

export interface CustomerReward {
  id: string;
  amountMinor: number;
  currency: string;
  status: string;
  reason: string;
}

/** A `rewards` row as customerReward and sessionData read it (id, amount_minor, currency, status, reason). */
type RewardRow = Record<"id" | "amount_minor" | "currency" | "status" | "reason", unknown>;

const rewardJson = (r: RewardRow): CustomerReward => ({
  id: r.id as string,
  amountMinor: r.amount_minor as number,
  currency: r.currency as string,
  status: r.status as string,
  reason: r.reason as string,
});

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
  reward: CustomerReward | null;
  flags: { rule: string; severity: string }[];
  redactedAt: Date | null;
}

export async function sessionData(sql: Sql, sessionId: string): Promise<SessionData | undefined> {
  const [s] = await sql`
    select s.*, st.code as store_code, st.name as store_name from sessions s join stores st on st.id = s.store_id
    where s.id = ${sessionId}`;
  if (!s) return undefined;
  // Deleted by its customer or past retention: what a node's queue wrote after that (it held the
  // conversation through a database outage) is not shown; the retention job's next run removes it.
  const content = s.deleted_by_customer_at === null && s.redacted_at === null;
  const none = Promise.resolve([]);
  const [segments, scores, finals, questions, rewards, flags] = await Promise.all([
    content
      ? sql`select segment_id, text, start_ms, end_ms, words from transcript_segments where session_id = ${sessionId} order by start_ms, segment_id`
      : none,
    content ? sql`select seq, score, scored_at from score_updates where session_id = ${sessionId} order by seq` : none,
    content
      ? sql`select score, specificity, actionability, sentiment, relevance, topics, summary, engine from final_scores where session_id = ${sessionId}`
      : none,
    content ? sql`select turn, text from ai_questions where session_id = ${sessionId} order by turn` : none,
    sql<RewardRow[]>`select id, amount_minor, currency, status, reason from rewards where session_id = ${sessionId}`,
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
    reward: reward ? rewardJson(reward) : null,
    flags: flags.map((f) => ({ rule: f.rule, severity: f.severity })),
    redactedAt: s.redacted_at,
  };
}

/**
 * The session of a data code, for a customer who kept the code alone (the end screen shows no session
 * id): `{dataCode}` → `{sessionId}`, then the routes below with the same code. Guesses are limited per
 * address as for those routes; a guess hits any of all sessions' codes, but at 60 bits and these
 * rates that stays out of reach. An unknown, deleted or expired code: 404, the same answer.
 */
/** A data code is 12 characters; typed with spaces and dashes, a little more. Longer is not one. */
const MAX_DATA_CODE_LENGTH = 64;

async function customerLookup(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = await byDataCode(req, ctx, async (id) => id);
  if (isReply(sessionId)) return sessionId;
  return sessionId ? json(200, { sessionId }) : json(404, { error: "no conversation has this data code" });
}

/**
 * The body's `{dataCode}` looked up, as a guess limited per address: `accept` turns the session it
 * names into what the caller may have (undefined: none), and only a miss counts against the limit.
 */
async function byDataCode<T>(
  req: RecordsRequest,
  ctx: RouteContext,
  accept: (sessionId: string) => Promise<T | undefined>,
): Promise<T | undefined | RecordsResponse> {
  const b = body(req);
  const code = typeof b.dataCode === "string" ? b.dataCode : "";
  if (!code.trim()) return json(400, { error: "dataCode is required" });
  if (code.length > MAX_DATA_CODE_LENGTH) return json(400, { error: "that is not a data code" });
  const address = addressKey(req.ip);
  const wait = ctx.codeAddressLimiter.retryAfterMs(address);
  if (wait > 0) return tooMany(ctx, "data-code-address", wait);
  const settle = ctx.codeAddressLimiter.begin(address);
  const found = await unlessUnknown([settle], async () => {
    const sessionId = await ctx.findByDataCode(code);
    return sessionId === undefined ? undefined : accept(sessionId);
  });
  settle(found !== undefined);
  return found;
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

/**
 * The session's reward alone, for the app's end screen to ask again until it is decided: one read of
 * `rewards` ({ reward: null } while none is), and no audit row, as this is not the customer opening
 * their data (customerData is). The data code was checked as for the other customer routes (a wrong
 * one, another session's, an unknown or malformed id: 401, rate-limited alike), so the session
 * exists. A reward is bookkeeping kept after a deletion or redaction, but the data code goes with
 * those, so such a session answers 401 here as it does there.
 */
async function customerReward(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const [reward] = await ctx.sql<RewardRow[]>`
    select id, amount_minor, currency, status, reason from rewards where session_id = ${sessionId}`;
  // payouts false: nothing can be claimed on this deployment (no Stripe), so the app offers no claim.
  return json(200, { reward: reward ? rewardJson(reward) : null, payouts: ctx.payouts !== undefined });
}

async function customerDelete(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const now = new Date(ctx.now());
  // The data code is the only key to a claim and goes with the data: an unclaimed reward is
  // forfeited, which the customer must have been told (409 until they say so).
  const forfeit = req.query.get("forfeitReward") === "true";
  type Outcome =
    | { kind: "live"; retryMs: number }
    | { kind: "unclaimed"; reward: CustomerReward }
    | { kind: "deleted"; businessId: string; storeCode: string; counts: RetentionCounts; forfeited: boolean };
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
    const [unclaimed] = await tx<RewardRow[]>`
      select id, amount_minor, currency, status, reason from rewards
      where session_id = ${sessionId} and status in ('claimable', 'onboarding') for update`;
    if (unclaimed && !forfeit) return { kind: "unclaimed", reward: rewardJson(unclaimed) };
    if (unclaimed)
      await tx`update rewards set status = 'forfeited', updated_at = ${now} where id = ${unclaimed.id as string}`;
    const counts = await redactSessions(tx, [sessionId], now, { keepFraudEvidence: true });
    await tx`update sessions set deleted_by_customer_at = ${now} where id = ${sessionId}`;
    return { kind: "deleted", businessId: s.business_id, storeCode: s.store_code, counts, forfeited: !!unclaimed };
  });
  if (!result) return notFound();
  if (result.kind === "live")
    return json(
      409,
      { error: "the conversation is still going: end it first, then delete its data" },
      { "retry-after": String(Math.ceil(result.retryMs / 1000)) },
    );
  if (result.kind === "unclaimed")
    return json(409, {
      error: "this conversation's reward is not claimed yet: deleting the data forfeits it (?forfeitReward=true)",
      reason: "reward_unclaimed",
      reward: result.reward,
    });
  ctx.logger.info(
    { sessionId, deleted: result.counts, rewardForfeited: result.forfeited },
    "customer deleted their data",
  );
  await audit(ctx, req, "customer.delete", `session:${sessionId}`, result.businessId, {
    ...result.counts,
    ...(result.forfeited ? { reward_forfeited: 1 } : {}),
  });
  ctx.onCustomerDeleted?.({ sessionId, businessId: result.businessId, storeCode: result.storeCode });
  // The data code went with the rest: this session can no longer be opened with it.
  return json(200, { deleted: result.counts, rewardForfeited: result.forfeited });
}

async function claimReward(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  if (!ctx.payouts) return json(503, { error: "payouts are not configured on this deployment (STRIPE_SECRET_KEY)" });
  const [reward] = await ctx.sql<{ id: string; business_id: string }[]>`
    select id, business_id from rewards where session_id = ${sessionId}`;
  if (!reward) return json(404, { error: "no reward for this session (yet)" });
  let result: ClaimResult;
  try {
    result = await ctx.payouts.claim(reward.id);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return stripeClaimFailure(ctx, sessionId, error);
    throw error;
  }
  if (result.status === "paying")
    void ctx.payouts
      .pay(reward.id)
      .catch((error: unknown) => ctx.logger.error({ sessionId, err: error }, "reward payment failed"));
  await audit(ctx, req, "reward.claim", `reward:${reward.id}`, reward.business_id, { status: result.status });
  return json(200, result);
}

/** How long a customer is asked to wait when Stripe could not answer (the SDK has retried twice by then). */
const STRIPE_RETRY_AFTER_S = 30;

/**
 * A claim Stripe did not carry out; the reward is kept either way. Stripe unreachable, its
 * 5xx, 429, or 409 (a request with the claim's idempotency key still running): 503 with
 * Retry-After, the same claim will go through later. Any other answer is a refusal of our request
 * (our API key, the account's parameters): 502, nothing the customer can change; logged for us.
 */
function stripeClaimFailure(ctx: RouteContext, sessionId: string, error: Stripe.errors.StripeError): RecordsResponse {
  const status = error.statusCode;
  const detail = `${error.type}${error.code ? `/${error.code}` : ""}${status ? ` ${status}` : ""}: ${error.message}`;
  if (status === undefined || status >= 500 || status === 429 || status === 409) {
    ctx.logger.warn({ sessionId, err: detail }, "reward claim: Stripe cannot answer now");
    return json(
      503,
      { error: "the payment service cannot be reached now: your reward is kept, try again in a minute" },
      { "retry-after": String(STRIPE_RETRY_AFTER_S) },
    );
  }
  ctx.logger.error({ sessionId, err: detail }, "reward claim: Stripe refused the request");
  return json(502, {
    error: "the payment service refused this claim: your reward is kept; ask the store if this goes on",
  });
}

async function stripeWebhook(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  if (!ctx.payouts) return json(503, { error: "Stripe is not configured" });
  const { status, body: reply } = await ctx.payouts.handleWebhook(req.rawBody, req.headers["stripe-signature"]);
  return json(status, reply);
}
