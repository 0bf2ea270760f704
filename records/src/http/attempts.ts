// Guesses limited per address and key: what a refused attempt answers (429, counted by the node),
// an attempt whose check could not be made (the database away: not counted), and a data code looked
// up as such a guess (a customer's "Your data", a store helping a customer who gave their code).
import { addressKey } from "../auth/RateLimiter.ts";
import { body } from "./access.ts";
import type { RecordsRateLimit, RouteContext } from "./context.ts";
import { json, type RecordsRequest, type RecordsResponse } from "./types.ts";

/** Runs an attempt's check; if it cannot be made (it throws: the database away), the attempt is not counted. */
export async function unlessUnknown<T>(settle: ((outcome: "unknown") => void)[], check: () => Promise<T>): Promise<T> {
  try {
    return await check();
  } catch (error) {
    for (const s of settle) s("unknown");
    throw error;
  }
}

export function tooMany(ctx: RouteContext, limit: RecordsRateLimit, waitMs: number): RecordsResponse {
  ctx.onRateLimited?.(limit);
  return json(
    429,
    { error: "too many attempts, try again later" },
    { "retry-after": String(Math.ceil(waitMs / 1000)) },
  );
}

/** A data code is 12 characters; typed with spaces and dashes, a little more. Longer is not one. */
export const MAX_DATA_CODE_LENGTH = 64;

/**
 * The body's `{dataCode}` looked up, as a guess limited per address: `accept` turns the session it
 * names into what the caller may have (undefined: none), and only a miss counts against the limit.
 */
export async function byDataCode<T>(
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
