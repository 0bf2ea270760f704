// Short-lived session tokens: compact JWTs signed with HS256 (node:crypto).
import { createHmac, timingSafeEqual } from "node:crypto";
import { ErrorCode, ParleyError } from "@parley/proto/errors";

export interface SessionClaims {
  sid: string; // session id
  store: string; // store code
  exp: number; // unix seconds
  /** The node that owns the session's media, when the session was placed on another node than the one creating it. */
  node?: string;
}

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");

const sign = (secret: string, data: string) => createHmac("sha256", secret).update(data).digest();

export function issueToken(secret: string, claims: SessionClaims): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const data = `${HEADER}.${payload}`;
  return `${data}.${sign(secret, data).toString("base64url")}`;
}

/** Verifies signature and expiry; throws UNAUTHENTICATED with the reason. */
export function verifyToken(secret: string, token: string, nowMs = Date.now()): SessionClaims {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== HEADER) throw new ParleyError(ErrorCode.UNAUTHENTICATED, "malformed token");
  // Compared as text against the one canonical base64url spelling: a decoder
  // would also take padding, '+' and '/', stray characters and other final
  // characters that decode to the same bytes, so one token would have many forms.
  const expected = Buffer.from(sign(secret, `${parts[0]}.${parts[1]}`).toString("base64url"));
  const given = Buffer.from(parts[2]!);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new ParleyError(ErrorCode.UNAUTHENTICATED, "bad token signature");
  let claims: SessionClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1]!, "base64url").toString("utf8")) as SessionClaims;
  } catch {
    throw new ParleyError(ErrorCode.UNAUTHENTICATED, "malformed token");
  }
  if (typeof claims.sid !== "string" || typeof claims.exp !== "number")
    throw new ParleyError(ErrorCode.UNAUTHENTICATED, "malformed token");
  if (claims.exp * 1000 <= nowMs) throw new ParleyError(ErrorCode.UNAUTHENTICATED, "token expired");
  return claims;
}
