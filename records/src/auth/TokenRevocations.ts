// Business logins withdrawn before they expire. Tokens are stateless, so an
// owner who removes a staff member or changes their stores writes the user's
// `not_before`; every check of a token then refuses one issued earlier. Each
// check reads Postgres (a few hundred dashboards re-checked every few seconds
// on each node), so answers are kept a second: a withdrawal reaches every node
// within that second plus the wall's re-check interval.
//
// A login that read the user while a change was being made must not outlive
// it: the login reads the user's row under a share lock and takes its `iat`
// from the database's clock just after; a change locks the row and takes
// `not_before` from the same clock. Whichever locks first, a token carrying
// what the change replaced is refused (loginRead below).
import type { Sql, TransactionSql } from "postgres";
import { databaseUnavailable, isRetryableDbError } from "../db/errors.ts";
import type { UserClaims } from "./token.ts";

/** How long one user's `not_before` is trusted before it is read again. */
const CACHE_MS = 1_000;
/** Cached users past which stale answers are swept out. */
const SWEEP_AT = 1_000;

interface Entry {
  /** Epoch ms before which this user's tokens are refused; 0: none are. */
  notBeforeMs: number;
  readAt: number;
}

export class TokenRevocations {
  readonly #sql: Sql;
  readonly #now: () => number;
  /** How long a login lives: a withdrawal older than that refuses nothing, and its row can go. */
  readonly #tokenTtlMs: number;
  readonly #cache = new Map<string, Entry>();
  /** Reads in flight, so that many checks of one user at once read once. */
  readonly #reading = new Map<string, Promise<number>>();

  constructor(sql: Sql, now: () => number, tokenTtlMs: number) {
    this.#sql = sql;
    this.#now = now;
    this.#tokenTtlMs = tokenTtlMs;
  }

  /**
   * Withdraws every token of this user issued until now, in the caller's transaction (the
   * change that makes them wrong commits with it). Old rows are pruned on the way.
   */
  async revoke(tx: TransactionSql, userId: string): Promise<void> {
    const now = new Date(this.#now());
    // After the row's lock (a login reading it waits, or has read and taken its iat already).
    await tx`select 1 from users where id = ${userId} for no key update`;
    await tx`
      insert into user_token_revocations (user_id, not_before) values (${userId}, clock_timestamp())
      on conflict (user_id) do update set not_before = excluded.not_before`;
    await tx`delete from user_token_revocations where not_before < ${new Date(now.getTime() - this.#tokenTtlMs)}`;
    this.#cache.delete(userId); // this node answers from the database at once
  }

  /**
   * Whether this (validly signed, unexpired) token was withdrawn. A token without `iat` (issued
   * before withdrawals existed) counts as issued at the epoch. A database that cannot be reached
   * throws a retryable UNAVAILABLE: the caller neither lets the token in nor signs it out.
   */
  async revoked(claims: UserClaims): Promise<boolean> {
    const notBeforeMs = await this.#notBefore(claims.sub);
    // Rounded: `iat` is milliseconds written as fractional seconds. Within the same millisecond as the
    // withdrawal (both read from the database's clock, which has microseconds) it is refused.
    return notBeforeMs > 0 && Math.round((claims.iat ?? 0) * 1000) <= notBeforeMs;
  }

  async #notBefore(userId: string): Promise<number> {
    const cached = this.#cache.get(userId);
    if (cached && this.#now() - cached.readAt < CACHE_MS) return cached.notBeforeMs;
    let reading = this.#reading.get(userId);
    if (!reading) {
      reading = this.#read(userId).finally(() => this.#reading.delete(userId));
      this.#reading.set(userId, reading);
    }
    return reading;
  }

  async #read(userId: string): Promise<number> {
    const readAt = this.#now();
    let rows: { not_before: Date }[];
    try {
      rows = await this.#sql<{ not_before: Date }[]>`
        select not_before from user_token_revocations where user_id = ${userId}`;
    } catch (error) {
      if (isRetryableDbError(error)) throw databaseUnavailable("sign-ins cannot be checked now", error);
      throw error;
    }
    const notBeforeMs = rows[0]?.not_before.getTime() ?? 0;
    // Only signed tokens get here, so the map holds real users; stale answers go as it grows.
    if (this.#cache.size >= SWEEP_AT) this.#sweep(readAt);
    this.#cache.set(userId, { notBeforeMs, readAt });
    return notBeforeMs;
  }

  #sweep(now: number): void {
    for (const [userId, entry] of this.#cache) if (now - entry.readAt >= CACHE_MS) this.#cache.delete(userId);
  }
}

/**
 * A login's read of its user: `read` runs in a transaction holding a share
 * lock on the rows it selects `for share`, and the result comes with the
 * database's time just after, the login's `iat` (see the top of this file).
 */
export async function loginRead<T>(
  sql: Sql,
  read: (tx: TransactionSql) => Promise<T>,
): Promise<{ row: T; readAt: number }> {
  return sql.begin(async (tx) => {
    const row = await read(tx);
    const [clock] = await tx<{ now: Date }[]>`select clock_timestamp() as now`;
    return { row, readAt: clock!.now.getTime() };
  });
}
