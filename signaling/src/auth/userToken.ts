// Tokens of business users and admins, for the dashboards: compact HS256
// JWTs with an audience of their own, so that a customer's session token can
// never pass for a business login. They are the records package's logins
// (aud "parley-business", sub, role, bid, exp, and `stores`, which optionally
// narrows a staff member to some stores of the business): records' token.ts
// is the one implementation that issues and checks them, here re-exported
// under the dashboards' names, so that the REST API and the dashboards can
// never read one token differently.
//
// The records package's login (POST /api/auth/login) issues them with the
// node's JWT_SECRET; `SignedUserTokens` verifies them.
import {
  issueUserToken,
  limitedStores,
  type Role,
  type UserClaims,
  verifyUserToken as verifyRecordsToken,
} from "@parley/records";

export { issueUserToken, type UserClaims };
export type UserRole = Role;

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

/** Records' check, with the clock read now when the caller passes no time. */
export function verifyUserToken(secret: string, token: string, nowMs = Date.now()): UserClaims | undefined {
  return verifyRecordsToken(secret, token, nowMs);
}

/** Whether a validly signed login was withdrawn since (records' TokenRevocations); throws when it cannot tell. */
export type RevocationCheck = (claims: UserClaims) => Promise<boolean>;

/**
 * Verifies tokens signed with this node's JWT_SECRET (records' logins use the same secret and
 * claims), and refuses those withdrawn since they were issued.
 */
export class SignedUserTokens implements DashboardTokenVerifier {
  readonly #secret: string;
  readonly #revoked: RevocationCheck;

  constructor(secret: string, revoked: RevocationCheck) {
    this.#secret = secret;
    this.#revoked = revoked;
  }

  async verify(token: string): Promise<DashboardCaller | undefined> {
    const claims = verifyUserToken(this.#secret, token);
    if (!claims || (await this.#revoked(claims))) return undefined;
    return {
      userId: claims.sub,
      role: claims.role,
      businessId: claims.bid ?? undefined,
      storeCodes: limitedStores(claims),
    };
  }

  /** A token signed by this node (tests, the screenshot script); people get theirs from the login. */
  issue(caller: { userId: string; role: UserRole; businessId?: string; storeCodes?: string[] }, ttlMs: number): string {
    const now = Date.now();
    return issueUserToken(this.#secret, {
      sub: caller.userId,
      role: caller.role,
      bid: caller.role === "admin" ? null : (caller.businessId ?? null),
      exp: Math.floor((now + ttlMs) / 1000),
      iat: now / 1000,
      ...(caller.storeCodes ? { stores: caller.storeCodes } : {}),
    });
  }
}
