// Tokens of business users and admins, for the dashboards: compact HS256
// JWTs with an audience of their own, so that a customer's session token can
// never pass for a business login. The claims are those of the records
// package's logins (aud "parley-business", sub, role, bid, exp), so a token
// records issues is accepted here as it is; `stores` optionally narrows a
// staff member to some stores of the business.
//
// The records package's login (POST /api/auth/login) issues them with the
// node's JWT_SECRET; `SignedUserTokens` verifies them.
import { createHmac, timingSafeEqual } from "node:crypto";

export type UserRole = "owner" | "staff" | "admin";

export interface UserClaims {
  aud: "parley-business";
  sub: string; // user id
  role: UserRole;
  bid: string | null; // business id; null for admins
  exp: number; // unix seconds
  /** Staff limited to these stores of the business (absent: every store). */
  stores?: string[];
}

/** Who a dashboard connection belongs to. */
export interface DashboardCaller {
  userId: string;
  role: UserRole;
  /** undefined for admins. */
  businessId: string | undefined;
  /** Staff limited to these stores; undefined: every store of the business. */
  storeCodes: readonly string[] | undefined;
}

/** Checks a dashboard's token; undefined when it is not valid (bad signature, expired, wrong audience). */
export interface DashboardTokenVerifier {
  verify(token: string): Promise<DashboardCaller | undefined>;
}

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const sign = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest();
const ROLES: readonly string[] = ["owner", "staff", "admin"];

export function issueUserToken(secret: string, claims: Omit<UserClaims, "aud">): string {
  const payload = Buffer.from(JSON.stringify({ aud: "parley-business", ...claims })).toString("base64url");
  const data = `${HEADER}.${payload}`;
  return `${data}.${sign(secret, data).toString("base64url")}`;
}

export function verifyUserToken(secret: string, token: string, nowMs = Date.now()): UserClaims | undefined {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== HEADER) return undefined;
  const expected = sign(secret, `${parts[0]}.${parts[1]}`);
  const given = Buffer.from(parts[2]!, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  let claims: UserClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as UserClaims;
  } catch {
    return undefined;
  }
  if (claims.aud !== "parley-business" || typeof claims.sub !== "string" || typeof claims.exp !== "number")
    return undefined;
  if (!ROLES.includes(claims.role)) return undefined;
  // An admin belongs to no business; everyone else to exactly one.
  if ((claims.role === "admin") !== (claims.bid === null)) return undefined;
  if (claims.role !== "admin" && (typeof claims.bid !== "string" || !claims.bid)) return undefined;
  if (
    claims.stores !== undefined &&
    (!Array.isArray(claims.stores) || claims.stores.some((s) => typeof s !== "string"))
  )
    return undefined;
  if (claims.exp * 1000 <= nowMs) return undefined;
  return claims;
}

/** Verifies tokens signed with this node's JWT_SECRET: records' logins use the same secret and claims. */
export class SignedUserTokens implements DashboardTokenVerifier {
  readonly #secret: string;

  constructor(secret: string) {
    this.#secret = secret;
  }

  async verify(token: string): Promise<DashboardCaller | undefined> {
    const claims = verifyUserToken(this.#secret, token);
    if (!claims) return undefined;
    return {
      userId: claims.sub,
      role: claims.role,
      businessId: claims.bid ?? undefined,
      storeCodes: claims.role === "staff" ? claims.stores : undefined,
    };
  }

  /** A token signed by this node (tests, the screenshot script); people get theirs from the login. */
  issue(caller: { userId: string; role: UserRole; businessId?: string; storeCodes?: string[] }, ttlMs: number): string {
    return issueUserToken(this.#secret, {
      sub: caller.userId,
      role: caller.role,
      bid: caller.role === "admin" ? null : (caller.businessId ?? null),
      exp: Math.floor((Date.now() + ttlMs) / 1000),
      ...(caller.storeCodes ? { stores: caller.storeCodes } : {}),
    });
  }
}
