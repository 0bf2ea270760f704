import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { describe, expect, it } from "vitest";
import { issueToken, verifyToken } from "../src/auth/token.ts";

const secret = "x".repeat(40);
const claims = { sid: "s-1", store: "demo", exp: Math.floor(Date.now() / 1000) + 60 };

const rejection = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return e as ParleyError;
  }
  throw new Error("expected a rejection");
};

describe("session tokens", () => {
  it("round-trips claims", () => {
    expect(verifyToken(secret, issueToken(secret, claims))).toEqual(claims);
  });

  it("rejects a token signed with another secret", () => {
    const e = rejection(() => verifyToken(secret, issueToken("y".repeat(40), claims)));
    expect(e.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect(e.message).toMatch(/signature/);
  });

  it("rejects a tampered payload", () => {
    const [h, , s] = issueToken(secret, claims).split(".");
    const forged = Buffer.from(JSON.stringify({ ...claims, sid: "other" })).toString("base64url");
    expect(rejection(() => verifyToken(secret, `${h}.${forged}.${s}`)).code).toBe(ErrorCode.UNAUTHENTICATED);
  });

  it("rejects an expired token", () => {
    const token = issueToken(secret, { ...claims, exp: Math.floor(Date.now() / 1000) - 1 });
    expect(rejection(() => verifyToken(secret, token)).message).toMatch(/expired/);
  });

  it("rejects garbage", () => {
    for (const t of ["", "abc", "a.b.c", "a.b"])
      expect(rejection(() => verifyToken(secret, t))).toBeInstanceOf(ParleyError);
  });
});
