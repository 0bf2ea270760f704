// The records package's REST routes. Every route states who may call it; the
// tenancy rule is the same everywhere: admins see every business, owners and
// staff only their own (another business's resources answer 404, as if they
// did not exist), staff only read, and staff whose token names some stores
// only those (another store's resources answer 404 alike, lists leave them
// out). Customers reach their one session with the data code they were given.
// Business reads and exports of personal data and every change are written to
// the audit log. This file is the table of routes and who may call each; the
// handlers live beside it: loginRoute.ts, businessRoutes.ts, staffRoutes.ts
// (owners manage their staff), customerRoutes.ts, with attempts.ts (guesses
// limited per address) and sessionData.ts (what a session holds).
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { Logger } from "pino";
import { addressKey } from "../auth/RateLimiter.ts";
import { limitedStores, verifyUserToken } from "../auth/token.ts";
import { isInvalidValueDbError, isRetryableDbError } from "../db/errors.ts";
import type { PayoutError } from "../payments/StripePayouts.ts";
import { UUID } from "./access.ts";
import { tooMany, unlessUnknown } from "./attempts.ts";
import {
  createStore,
  exportCsv,
  getFeedback,
  listAudit,
  listBusinesses,
  listRewards,
  listSessions,
  listStores,
  lookupFeedback,
  setBudget,
  setPolicy,
  updateStore,
} from "./businessRoutes.ts";
import type { RouteContext } from "./context.ts";
import {
  claimReward,
  customerData,
  customerDelete,
  customerLookup,
  customerReward,
  stripeWebhook,
} from "./customerRoutes.ts";
import { login } from "./loginRoute.ts";
import { createStaff, listUsers, removeStaff, setStaffStores } from "./staffRoutes.ts";
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
