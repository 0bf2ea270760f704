// Business tokens: the claims records' verifier (the one implementation, the
// node's dashboards use it too) accepts, and the malformed ones it refuses.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { issueUserToken, limitedStores, type UserClaims, verifyUserToken } from "../src/auth/token.ts";

const SECRET = "s".repeat(40);
const NOW = Date.UTC(2025, 0, 1);
const base = { sub: "u1", role: "staff", bid: "b1", exp: NOW / 1000 + 60 };
/** Signs any payload, well-formed or not: the verifier must not trust a claim because it is signed. */
const signed = (claims: Record<string, unknown>) =>
  issueUserToken(SECRET, { ...base, ...claims } as Omit<UserClaims, "aud">);
const verify = (claims: Record<string, unknown>) => verifyUserToken(SECRET, signed(claims), NOW);

describe("business tokens", () => {
  it("accepts a staff member limited to some stores, and carries the limit", () => {
    const claims = verify({ stores: ["demo", "second"] });
    expect(claims?.stores).toEqual(["demo", "second"]);
    expect(limitedStores(claims!)).toEqual(["demo", "second"]);
    expect(verify({ stores: [] })?.stores).toEqual([]);
    expect(limitedStores(verify({})!)).toBeUndefined();
  });

  it("refuses a stores claim that is not an array of strings", () => {
    for (const stores of ["demo", 1, null, {}, { 0: "demo" }, [1], ["demo", 2], [null], [["demo"]]])
      expect(verify({ stores }), JSON.stringify(stores)).toBeUndefined();
  });

  it("limits only staff: owners and admins see every store whatever the claim", () => {
    expect(limitedStores(verify({ role: "owner", stores: ["demo"] })!)).toBeUndefined();
    expect(limitedStores(verify({ role: "admin", bid: null, stores: ["demo"] })!)).toBeUndefined();
  });

  it("refuses a business user without a business, and an admin with one", () => {
    for (const bid of ["", null, undefined, 7])
      for (const role of ["owner", "staff"]) expect(verify({ role, bid }), `${role} ${bid}`).toBeUndefined();
    expect(verify({ role: "admin", bid: "b1" })).toBeUndefined();
    expect(verify({ role: "admin", bid: null })?.role).toBe("admin");
  });

  it("refuses a wrong signature, audience or role, an expired token, and a payload that is no object", () => {
    expect(verifyUserToken("t".repeat(40), signed({}), NOW)).toBeUndefined();
    expect(verify({ aud: "parley-session" })).toBeUndefined();
    expect(verify({ role: "root" })).toBeUndefined();
    expect(verify({ exp: NOW / 1000 })).toBeUndefined();
    // Well signed, but JSON that is no object: refused, not a TypeError (a 500).
    const data = `${signed({}).split(".")[0]}.${Buffer.from("null").toString("base64url")}`;
    const token = `${data}.${createHmac("sha256", SECRET).update(data).digest("base64url")}`;
    expect(verifyUserToken(SECRET, token, NOW)).toBeUndefined();
  });
});
