// Owners' (and admins') management of a business's staff: who they are and
// which stores each is limited to. A change withdraws the tokens the staff
// member holds, in its transaction: they log in again to the new list.
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Sql, TransactionSql } from "postgres";
import { hashPassword } from "../auth/password.ts";
import type { Role } from "../auth/token.ts";
import { FOREIGN_KEY_VIOLATION } from "../db/errors.ts";
import { audit, body, MAX_EMAIL_LENGTH, notFound, routeBusiness, STORE_CODE, UUID } from "./access.ts";
import type { RouteContext } from "./context.ts";
import { json, type RecordsRequest, type RecordsResponse } from "./types.ts";

/** Something@somewhere.tld: enough to catch typos; whether it reaches anyone is the owner's to know. */
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
/** As long as the seeded demo logins' passwords; the upper bound only keeps scrypt's input sane. */
const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 1024;
/** More stores than any business has; a bound on the lookup a request can ask for. */
const MAX_STAFF_STORES = 1000;
/** A user row with the codes of the stores they are limited to. */
export interface UserRow {
  id: string;
  role: Role;
  business_id: string | null;
  /** Staff only: limited to `store_codes`, which may be empty (their stores were deleted: none). */
  store_limited: boolean;
  store_codes: string[];
}

/** The codes of `users u`'s stores, of their own business only, sorted. */
export const storesOfUser = (sql: Sql | TransactionSql) => sql`
  coalesce((select array_agg(st.code order by st.code) from user_stores us
            join stores st on st.id = us.store_id and st.business_id = u.business_id
            where us.user_id = u.id), '{}')`;

/**
 * The `stores` claim a login issues: the codes of a limited staff member's stores (an empty list
 * when they have none left, which limits them to no store); undefined for everyone else.
 */
export function tokenStores(row: UserRow): string[] | undefined {
  return row.role === "staff" && row.store_limited ? row.store_codes : undefined;
}

export async function listUsers(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
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
export async function createStaff(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  if (!businessId) return notFound();
  const b = body(req);
  const email = newEmail(b.email);
  const password = newPassword(b.password);
  const stores = storeCodesOf(b.stores);
  const passwordHash = await hashPassword(password);
  let id: string | undefined;
  try {
    id = await ctx.sql.begin(async (tx) => {
      const [row] = await tx<{ id: string }[]>`
        insert into users (id, email, password_hash, role, business_id)
        values (gen_random_uuid(), ${email}, ${passwordHash}, 'staff', ${businessId})
        on conflict (email) do nothing returning id`;
      if (row) await limitToStores(tx, businessId, row.id, stores);
      return row?.id;
    });
  } catch (error) {
    // An admin's request for a business that does not exist (foreign key): as createStore answers it.
    if ((error as { code?: unknown }).code === FOREIGN_KEY_VIOLATION) return notFound();
    throw error;
  }
  if (!id) return json(409, { error: "a user with this e-mail already exists" });
  await audit(ctx, req, "staff.create", `user:${id}`, businessId, { email, stores: stores ?? null });
  return json(201, { id, email, role: "staff", stores: stores ?? null });
}

/**
 * Limits a staff member to some stores (`stores`: codes; [] for none; null for every store). The
 * tokens they hold carry the old list, so they are withdrawn: the next login carries the new one.
 */
export async function setStaffStores(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  const userId = req.params.userId ?? "";
  if (!businessId || !UUID.test(userId)) return notFound();
  const b = body(req);
  if (!("stores" in b)) return json(400, { error: "stores is required: store codes, or null for every store" });
  const stores = storeCodesOf(b.stores);
  const found = await ctx.sql.begin(async (tx) => {
    // Locked, so that two changes at once leave one of the lists, not a mix.
    const [staff] = await tx`
      select id from users where id = ${userId} and business_id = ${businessId} and role = 'staff' for update`;
    if (!staff) return false;
    await limitToStores(tx, businessId, userId, stores);
    await ctx.revocations.revoke(tx, userId);
    return true;
  });
  if (!found) return notFound();
  await audit(ctx, req, "staff_stores.set", `user:${userId}`, businessId, { stores: stores ?? null });
  return json(200, { id: userId, stores: stores ?? null });
}

/** Removes a staff member (never an owner), and withdraws the tokens they hold. */
export async function removeStaff(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const businessId = await routeBusiness(ctx, req);
  const userId = req.params.userId ?? "";
  if (!businessId || !UUID.test(userId)) return notFound();
  const row = await ctx.sql.begin(async (tx) => {
    const [removed] = await tx<{ email: string }[]>`
      delete from users where id = ${userId} and business_id = ${businessId} and role = 'staff' returning email`;
    if (removed) await ctx.revocations.revoke(tx, userId);
    return removed;
  });
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
