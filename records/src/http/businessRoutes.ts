// The routes of business users and admins: businesses, stores and their settings, the budget and
// reward policy, sessions, feedback, rewards, the audit log and the CSV export. Tenancy as in
// routes.ts: another business's resources answer 404.

import type { Sql } from "postgres";
import { FOREIGN_KEY_VIOLATION } from "../db/errors.ts";
import { DEFAULT_POLICY, parsePolicy } from "../rewards/policy.ts";
import {
  allowedStore,
  audit,
  body,
  contentKept,
  inAllowedStores,
  notFound,
  ownBusiness,
  ownStore,
  routeBusiness,
  STORE_CODE,
  UUID,
  user,
} from "./access.ts";
import { byDataCode } from "./attempts.ts";
import type { RouteContext } from "./context.ts";
import { type CsvPage, feedbackCsvPages, parseExportBound } from "./feedbackCsv.ts";
import { beforeCursor, CURSOR_TIME_FORMAT, type Cursor, isReply, MAX_PAGE, page, pageLimit } from "./pages.ts";
import { sessionData } from "./sessionData.ts";
import {
  DEFAULT_LANGUAGE,
  DEFAULT_TIME_ZONE,
  storeCurrency,
  storeLanguage,
  storeName,
  storeTimeZone,
} from "./storeFields.ts";
import { json, type RecordsRequest, type RecordsResponse } from "./types.ts";

export async function listBusinesses(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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

export async function listStores(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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

export async function createStore(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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
export async function updateStore(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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

export async function setBudget(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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

export async function setPolicy(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const store = await ownStore(ctx, req, req.params.storeCode);
  if (!store) return notFound();
  const policy = parsePolicy(body(req));
  await ctx.sql`update stores set reward_policy = ${ctx.sql.json(policy as never)} where id = ${store.id}`;
  await audit(ctx, req, "reward_policy.set", `store:${store.code}`, store.business_id, { policy });
  return json(200, { rewardPolicy: policy });
}

export async function listSessions(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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
export async function getFeedback(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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
export async function lookupFeedback(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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

export async function listRewards(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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

export async function listAudit(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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
export async function exportCsv(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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
