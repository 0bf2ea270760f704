// The reward on the end screen when it does not come over the socket: read
// from the records API's reward-only endpoint (see customerReward in
// records/src/http/routes.ts for the answer's shape; not the audited data
// view), asked again with back-off; fetch stubbed.
import { create } from "@bufbuild/protobuf";
import { RewardStatus, RewardUpdateSchema } from "@parley/proto/live";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fromRecords, fromUpdate, pollRecordedReward, REWARD_POLL_DELAYS_MS, recordedReward } from "../src/reward.ts";

const access = { sessionId: "6f1c2a4e-8b1d-4c55-9a0e-2d7f3b9c1e42", dataCode: "ABCD-EFGH-JKLM" };
const rewardUrl = `/api/customer/sessions/${access.sessionId}/reward`;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("fromRecords", () => {
  it("shows a claimable reward (amount as records' bigint string) with 'Get paid'", () => {
    expect(fromRecords({ status: "claimable", amountMinor: "500", currency: "SEK", reason: "tier 0" })).toEqual({
      status: RewardStatus.GRANTED,
      amountMinor: 500,
      currency: "SEK",
      reason: "tier 0",
    });
    // Onboarding started elsewhere: still to claim (the button goes on with it).
    expect(fromRecords({ status: "onboarding", amountMinor: 500, currency: "SEK", reason: null }).settled).toBe(
      undefined,
    );
  });

  it("says where a granted reward stands once its claim is under way or over", () => {
    for (const state of ["transfer_pending", "transferred", "payout_pending", "paid", "payout_failed", "reversed"])
      expect(fromRecords({ status: state, amountMinor: 500, currency: "SEK", reason: "" })).toMatchObject({
        status: RewardStatus.GRANTED,
        amountMinor: 500,
        settled: state,
      });
  });

  it("tells a reward whose payout failed (records keep it transferred) from one on its way", () => {
    const transferred = { status: "transferred", amountMinor: 500, currency: "SEK", reason: "" };
    expect(fromRecords({ ...transferred, payoutFailed: true }).settled).toBe("payout_failed");
    expect(fromRecords({ ...transferred, payoutFailed: false }).settled).toBe("transferred");
  });

  it("shows none and withheld as the socket's update does, with their reason", () => {
    expect(fromRecords({ status: "none", amountMinor: "0", currency: "SEK", reason: "budget_exhausted" })).toEqual({
      status: RewardStatus.NONE,
      amountMinor: 0,
      currency: "SEK",
      reason: "budget_exhausted",
    });
    expect(fromRecords({ status: "withheld", amountMinor: "500", currency: "SEK", reason: "off_topic" })).toEqual({
      status: RewardStatus.WITHHELD,
      amountMinor: 0,
      currency: "SEK",
      reason: "off_topic",
    });
  });
});

describe("a deployment without payouts", () => {
  it("marks a granted reward as not payable here, from the socket's update and from the records", () => {
    const update = (status: RewardStatus, payoutsUnavailable: boolean) =>
      fromUpdate(
        create(RewardUpdateSchema, { status, amountMinor: 500, currency: "SEK", reason: "tier", payoutsUnavailable }),
      );
    expect(update(RewardStatus.GRANTED, true)).toMatchObject({ status: RewardStatus.GRANTED, unpayable: true });
    expect(update(RewardStatus.GRANTED, false).unpayable).toBeUndefined();
    // Nothing to pay either way: no "payouts" sentence for a reward that is not granted.
    expect(update(RewardStatus.NONE, true).unpayable).toBeUndefined();
    const claimable = { status: "claimable", amountMinor: "500", currency: "SEK", reason: "tier" };
    expect(fromRecords(claimable, false)).toMatchObject({ status: RewardStatus.GRANTED, unpayable: true });
    expect(fromRecords(claimable).unpayable).toBeUndefined();
    expect(fromRecords({ ...claimable, status: "none" }, false).unpayable).toBeUndefined();
  });

  it("reads the records' word that nothing is paid out on this deployment", async () => {
    const reward = { id: "r", status: "claimable", amountMinor: "500", currency: "SEK", reason: "" };
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => Response.json({ reward, payouts: false })),
    );
    expect(await recordedReward(access)).toMatchObject({ status: RewardStatus.GRANTED, unpayable: true });
    // An answer without the field (an older node) keeps the claim.
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => Response.json({ reward })),
    );
    expect((await recordedReward(access))?.unpayable).toBeUndefined();
  });
});

describe("recordedReward", () => {
  it("reads the session's reward alone with the data code, not the customer's data view; null while none is decided", async () => {
    const fetch = vi.fn(async () =>
      Response.json({ reward: { id: "r", status: "claimable", amountMinor: "500", currency: "SEK", reason: "" } }),
    );
    vi.stubGlobal("fetch", fetch);
    expect(await recordedReward(access)).toMatchObject({ status: RewardStatus.GRANTED, amountMinor: 500 });
    expect(fetch).toHaveBeenCalledTimes(1);
    expect(fetch).toHaveBeenCalledWith(rewardUrl, {
      headers: { "x-parley-data-code": access.dataCode },
    });
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => Response.json({ reward: null })),
    );
    expect(await recordedReward(access)).toBeNull();
  });

  it("is undefined when the records cannot answer", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => Response.json({ error: "too many" }, { status: 429 })),
    );
    expect(await recordedReward(access)).toBeUndefined();
    vi.stubGlobal("fetch", vi.fn().mockRejectedValue(new TypeError("Failed to fetch")));
    expect(await recordedReward(access)).toBeUndefined();
  });
});

describe("pollRecordedReward", () => {
  const granted = { status: RewardStatus.GRANTED, amountMinor: 500, currency: "SEK", reason: "" };

  it("asks at once, then backs off until the reward is decided", async () => {
    const answers = [undefined, null, null, granted];
    const ask = vi.fn(async () => answers.shift());
    const slept: number[] = [];
    const sleep = async (ms: number) => {
      slept.push(ms);
    };
    expect(await pollRecordedReward(access, { wanted: () => true, ask, sleep })).toEqual(granted);
    expect(ask).toHaveBeenCalledTimes(4);
    expect(slept).toEqual(REWARD_POLL_DELAYS_MS.slice(1, 4));
    expect(slept).toEqual([...slept].sort((a, b) => a - b));
  });

  it("asks the reward-only endpoint each time by default, never the audited data view", async () => {
    const answers = [
      Response.json({ reward: null }),
      Response.json({ error: "unavailable" }, { status: 503 }),
      Response.json({
        reward: { id: "r", status: "none", amountMinor: "0", currency: "SEK", reason: "budget_exhausted" },
      }),
    ];
    const fetch = vi.fn(async (_url: string, _init?: RequestInit) => answers.shift()!);
    vi.stubGlobal("fetch", fetch);
    const found = await pollRecordedReward(access, { wanted: () => true, sleep: async () => {} });
    expect(found).toEqual({ status: RewardStatus.NONE, amountMinor: 0, currency: "SEK", reason: "budget_exhausted" });
    expect(fetch.mock.calls.map(([url]) => url)).toEqual([rewardUrl, rewardUrl, rewardUrl]);
    for (const [, init] of fetch.mock.calls)
      expect(init).toEqual({ headers: { "x-parley-data-code": access.dataCode } });
  });

  it("gives up after about two minutes", async () => {
    const ask = vi.fn(async () => null);
    const slept: number[] = [];
    const found = await pollRecordedReward(access, {
      wanted: () => true,
      ask,
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
    expect(found).toBeUndefined();
    expect(ask).toHaveBeenCalledTimes(REWARD_POLL_DELAYS_MS.length);
    const total = slept.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThanOrEqual(90_000);
    expect(total).toBeLessThanOrEqual(150_000);
  });

  it("stops when the reward is no longer wanted (it came another way, or a new conversation started)", async () => {
    let wanted = true;
    const ask = vi.fn(async () => {
      wanted = false;
      return null;
    });
    expect(await pollRecordedReward(access, { wanted: () => wanted, ask, sleep: async () => {} })).toBeUndefined();
    expect(ask).toHaveBeenCalledTimes(1);
  });
});
