// What the app makes of the records API's answers to a claim (see claimReward in
// records/src/http/routes.ts for when each status is sent), with fetch stubbed.
import { afterEach, describe, expect, it, vi } from "vitest";
import { claimReward } from "../src/claim.ts";

const access = { sessionId: "6f1c2a4e-8b1d-4c55-9a0e-2d7f3b9c1e42", dataCode: "ABCD-EFGH-JKLM" };

/** The records API: the claim answers `status` (with `body`); the session's reward is `reward`. */
function recordsApi(status: number, body: unknown, reward: { status: string } | null = null) {
  vi.stubGlobal(
    "fetch",
    vi.fn(async (url: string) =>
      url.endsWith("/reward/claim") ? Response.json(body, { status }) : Response.json({ reward }),
    ),
  );
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("claimReward", () => {
  it("shows where the reward stands when there is nothing to claim (409), not 'try again later'", async () => {
    recordsApi(409, { error: "nothing to claim (withheld)" }, { status: "withheld" });
    expect(await claimReward(access)).toEqual({ kind: "settled", state: "withheld" });
    recordsApi(409, { error: "nothing to claim (reversed)" }, { status: "reversed" });
    expect(await claimReward(access)).toEqual({ kind: "settled", state: "reversed" });
  });

  it("says 'try again later' only while Stripe or the records cannot answer", async () => {
    recordsApi(503, { error: "the payment service cannot be reached now" });
    expect(await claimReward(access)).toEqual({ kind: "failed" });
    recordsApi(404, { error: "no reward for this session (yet)" });
    expect(await claimReward(access)).toEqual({ kind: "failed" });
    // A proxy's answer for a node that is down, not the records API's.
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response("Bad Gateway", { status: 502 })));
    expect(await claimReward(access)).toEqual({ kind: "failed" });
    recordsApi(429, { error: "too many attempts, try again later" });
    expect(await claimReward(access)).toEqual({ kind: "failed" });
    vi.stubGlobal("fetch", vi.fn().mockRejectedValue(new TypeError("Failed to fetch")));
    expect(await claimReward(access)).toEqual({ kind: "failed" });
  });

  it("tells a refusal that trying again will not change from a passing failure", async () => {
    recordsApi(502, { error: "the payment service refused this claim" });
    expect(await claimReward(access)).toEqual({ kind: "refused" });
    recordsApi(401, { error: "wrong data code" });
    expect(await claimReward(access)).toEqual({ kind: "refused" });
  });

  it("goes to onboarding, or says the money is moving or paid", async () => {
    recordsApi(200, { status: "onboarding", onboardingUrl: "https://connect.stripe.com/setup/e/acct_1" });
    expect(await claimReward(access)).toEqual({ kind: "onboarding", url: "https://connect.stripe.com/setup/e/acct_1" });
    recordsApi(200, { status: "paying", state: "transfer_pending" });
    expect(await claimReward(access)).toEqual({ kind: "paying" });
    recordsApi(200, { status: "paid", state: "paid" });
    expect(await claimReward(access)).toEqual({ kind: "paid" });
  });
});
