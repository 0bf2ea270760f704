// A business user's or admin's login: e-mail and password, failures limited per e-mail and per
// address, answered with a token naming the user's role, business and stores.
import { DUMMY_HASH, verifyPassword } from "../auth/password.ts";
import { addressKey } from "../auth/RateLimiter.ts";
import { loginRead } from "../auth/TokenRevocations.ts";
import { issueUserToken } from "../auth/token.ts";
import { audit, body, MAX_EMAIL_LENGTH } from "./access.ts";
import { tooMany, unlessUnknown } from "./attempts.ts";
import type { RouteContext } from "./context.ts";
import { storesOfUser, tokenStores, type UserRow } from "./staffRoutes.ts";
import { json, type RecordsRequest, type RecordsResponse } from "./types.ts";

export async function login(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
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
