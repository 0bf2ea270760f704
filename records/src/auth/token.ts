// Signed tokens for business users and admins: compact HS256 JWTs (node:crypto),
// with an audience of their own so a customer's session token can never pass
// for a business login, nor the other way round. The one implementation: the
// node's dashboards (signaling's userToken.ts) verify these same tokens.
import { createHmac, timingSafeEqual } from "node:crypto";

export type Role = "owner" | "staff" | "admin";

export interface UserClaims {
  aud: "parley-business";
  sub: string; // user id
  role: Role;
  bid: string | null; // business id; null for admins
  exp: number; // unix seconds
  /** When it was issued, unix seconds with a fraction (ms): withdrawals refuse tokens issued before them. */
  iat?: number;
  /** Staff limited to these stores of the business (absent: every store). */
  stores?: string[];
}

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const sign = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest();
const ROLES: readonly string[] = ["owner", "staff", "admin"];

export function issueUserToken(secret: string, claims: Omit<UserClaims, "aud">): string {
  const payload = Buffer.from(JSON.stringify({ aud: "parley-business", ...claims })).toString("base64url");
  const data = `${HEADER}.${payload}`;
  return `${data}.${sign(secret, data).toString("base64url")}`;
}

/** The claims of a valid, unexpired token; undefined otherwise (the caller answers 401). */
export function verifyUserToken(secret: string, token: string, nowMs: number): UserClaims | undefined {
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
  if (typeof claims !== "object" || claims === null) return undefined;
  if (claims.aud !== "parley-business" || typeof claims.sub !== "string" || typeof claims.exp !== "number")
    return undefined;
  if (claims.iat !== undefined && typeof claims.iat !== "number") return undefined;
  if (!ROLES.includes(claims.role)) return undefined;
  // An admin belongs to no business; everyone else to exactly one.
  if ((claims.role === "admin") !== (claims.bid === null)) return undefined;
  if (claims.role !== "admin" && (typeof claims.bid !== "string" || !claims.bid)) return undefined;
  // A malformed limit is refused, never read as "no limit".
  if (
    claims.stores !== undefined &&
    (!Array.isArray(claims.stores) || claims.stores.some((s) => typeof s !== "string"))
  )
    return undefined;
  if (claims.exp * 1000 <= nowMs) return undefined;
  return claims;
}

/** The stores a token limits its holder to; undefined: every store (only staff are ever limited). */
export const limitedStores = (claims: UserClaims): readonly string[] | undefined =>
  claims.role === "staff" ? claims.stores : undefined;
