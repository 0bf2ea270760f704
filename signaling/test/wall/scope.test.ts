import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { describe, expect, it } from "vitest";
import type { DashboardCaller } from "../../src/auth/userToken.ts";
import { issueUserToken, SignedUserTokens, verifyUserToken } from "../../src/auth/userToken.ts";
import type { Store, StoreDirectory } from "../../src/stores/StoreDirectory.ts";
import { inScope, resolveScope, topicsOfItem, topicsOfScope } from "../../src/wall/scope.ts";

/** Three stores of two businesses (the records database's answers, as plain data). */
const STORES: Store[] = [
  { code: "a1", businessId: "alpha", name: "a1", language: "en-US", currency: "SEK" },
  { code: "a2", businessId: "alpha", name: "a2", language: "en-US", currency: "SEK" },
  { code: "b1", businessId: "beta", name: "b1", language: "en-US", currency: "SEK" },
];
/** Businesses asked about (an admin's wall of one): once per resolution, not per event. */
const businessesAsked: string[] = [];
const stores: StoreDirectory = {
  find: async (code) => STORES.find((s) => s.code === code),
  list: async (businessId) => STORES.filter((s) => businessId === undefined || s.businessId === businessId),
  hasBusiness: async (businessId) => {
    businessesAsked.push(businessId);
    return STORES.some((s) => s.businessId === businessId);
  },
};
const owner: DashboardCaller = { userId: "u", role: "owner", businessId: "alpha", storeCodes: undefined };
const staff: DashboardCaller = { userId: "s", role: "staff", businessId: "alpha", storeCodes: ["a2"] };
const admin: DashboardCaller = { userId: "x", role: "admin", businessId: undefined, storeCodes: undefined };
const ask = (businessId = "", storeCodes: string[] = [], publicScreen = false) => ({
  businessId,
  storeCodes,
  publicScreen,
});
const notFound = async (p: Promise<unknown>) => {
  const error = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ParleyError);
  expect((error as ParleyError).code).toBe(ErrorCode.NOT_FOUND);
};

describe("dashboard tenancy", () => {
  it("gives an owner their business and nothing of another", async () => {
    const scope = await resolveScope(owner, ask(), stores);
    expect(topicsOfScope(scope)).toEqual(["b/alpha"]);
    expect(inScope(scope, "alpha", "a1")).toBe(true);
    expect(inScope(scope, "beta", "b1")).toBe(false);
    await notFound(resolveScope(owner, ask("beta"), stores));
    await notFound(resolveScope(owner, ask("", ["b1"]), stores));
    await notFound(resolveScope(owner, ask("", ["nope"]), stores));
    expect(topicsOfScope(await resolveScope(owner, ask("", ["a1"]), stores))).toEqual(["s/a1"]);
  });

  it("keeps staff to the stores their token names", async () => {
    const scope = await resolveScope(staff, ask(), stores);
    expect(topicsOfScope(scope)).toEqual(["s/a2"]);
    expect(inScope(scope, "alpha", "a1")).toBe(false);
    await notFound(resolveScope(staff, ask("", ["a1"]), stores));
  });

  it("lets an admin see every business, or one", async () => {
    expect(topicsOfScope(await resolveScope(admin, ask(), stores))).toEqual(["all"]);
    expect(topicsOfScope(await resolveScope(admin, ask("beta"), stores))).toEqual(["b/beta"]);
    await notFound(resolveScope(admin, ask("alpha", ["b1"]), stores));
  });

  it("tells an admin that a business they name does not exist, as it tells anyone", async () => {
    businessesAsked.length = 0;
    await notFound(resolveScope(admin, ask("gamma"), stores));
    await notFound(resolveScope(admin, ask("gamma", [], true), stores));
    await notFound(resolveScope(admin, ask("alph"), stores)); // a truncated id
    expect(businessesAsked).toEqual(["gamma", "gamma", "alph"]);
    // An owner's own business is their token's: not asked again.
    businessesAsked.length = 0;
    await resolveScope(owner, ask("alpha"), stores);
    expect(businessesAsked).toEqual([]);
  });

  it("publishes an item on exactly one topic of any scope", async () => {
    const topics = topicsOfItem("alpha", "a1");
    for (const caller of [owner, staff, admin]) {
      const scope = await resolveScope(caller, ask(), stores);
      expect(topicsOfScope(scope).filter((t) => topics.includes(t)).length).toBeLessThanOrEqual(1);
    }
  });

  it("accepts only well-signed, unexpired business tokens of a known role", async () => {
    const secret = "s".repeat(40);
    const notWithdrawn = async () => false;
    const tokens = new SignedUserTokens(secret, notWithdrawn);
    const token = tokens.issue({ userId: "u1", role: "staff", businessId: "alpha", storeCodes: ["a2"] }, 60_000);
    expect(await tokens.verify(token)).toEqual({
      userId: "u1",
      role: "staff",
      businessId: "alpha",
      storeCodes: ["a2"],
    });
    expect(await new SignedUserTokens("t".repeat(40), notWithdrawn).verify(token)).toBeUndefined();
    // One withdrawn since it was issued (records' check says so) no longer passes.
    const asked: unknown[] = [];
    const withdrawn = new SignedUserTokens(secret, async (claims) => {
      asked.push(claims.sub);
      return true;
    });
    expect(await withdrawn.verify(token)).toBeUndefined();
    expect(asked).toEqual(["u1"]);
    expect(await tokens.verify(`${token}x`)).toBeUndefined();
    const expired = issueUserToken(secret, { sub: "u", role: "owner", bid: "alpha", exp: 1 });
    expect(verifyUserToken(secret, expired)).toBeUndefined();
    // An admin belongs to no business; an owner to one.
    expect(verifyUserToken(secret, issueUserToken(secret, { sub: "u", role: "admin", bid: "alpha", exp: 4e9 }))).toBe(
      undefined,
    );
    expect(verifyUserToken(secret, issueUserToken(secret, { sub: "u", role: "owner", bid: null, exp: 4e9 }))).toBe(
      undefined,
    );
  });
});
