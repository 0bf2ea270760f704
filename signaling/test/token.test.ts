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

  it("accepts a signature only in its canonical base64url form", () => {
    const token = issueToken(secret, claims);
    const [h, p, sig] = token.split(".") as [string, string, string];
    const bytes = Buffer.from(sig, "base64url");
    // 32 bytes take 43 characters; the last one carries 2 unused bits, so 3 other characters decode alike.
    const last = sig.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const twins = [...alphabet].filter(
      (c) => c !== last && Buffer.from(sig.slice(0, -1) + c, "base64url").equals(bytes),
    );
    expect(twins).toHaveLength(3);
    const variants = [
      ...twins.map((c) => sig.slice(0, -1) + c),
      `${sig}=`, // padded
      bytes.toString("base64"), // standard alphabet, padded
      `${sig.slice(0, 10)}*${sig.slice(10)}`, // a stray character the decoder skips
    ];
    for (const variant of variants) {
      expect(Buffer.from(variant, "base64url").equals(bytes)).toBe(true); // the same signature to a decoder
      expect(rejection(() => verifyToken(secret, `${h}.${p}.${variant}`)).message).toMatch(/signature/);
    }
    expect(verifyToken(secret, token)).toEqual(claims);
  });

  it("rejects garbage", () => {
    for (const t of ["", "abc", "a.b.c", "a.b"])
      expect(rejection(() => verifyToken(secret, t))).toBeInstanceOf(ParleyError);
  });
});
