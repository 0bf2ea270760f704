// Stripe Connect payouts against StripeTestDouble (a TEST DOUBLE of Stripe's
// API, see src/testing/StripeTestDouble.ts) with the real `stripe` SDK:
// onboarding, transfer and payout with deterministic idempotency keys, webhooks
// verified on the raw body and applied once, and no double payment after a
// crash between Stripe's answer and our database write.
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import { register } from "prom-client";
import Stripe from "stripe";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadMigrations } from "../src/db/migrate.ts";
import { StripePayouts } from "../src/payments/StripePayouts.ts";
import { type PostgresCluster, StripeTestDouble, serveRoutes } from "../src/testing/index.ts";
import { Conversation, openRecords, silentLogger, startCluster, uniqueFeedback } from "./helpers.ts";

let pg: PostgresCluster;
let stripe: StripeTestDouble;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());
afterEach(() => stripe?.close());

let seed = 1000;
async function setup(
  options: {
    crashAfterTransfer?: () => boolean;
    crashAfterPayout?: () => boolean;
    otherEndpointSecret?: string;
    /** The demo business trades elsewhere (default: Sweden, in SEK). */
    market?: { country: string; currency: string };
    /** Default: silent. */
    logger?: Logger;
  } = {},
) {
  stripe = await StripeTestDouble.start({ platformBalance: 100_000 });
  const records = await openRecords(await pg.createDatabase(), {
    ...(options.logger ? { logger: options.logger } : {}),
    stripe: {
      ...stripe.clientOptions,
      webhookSecret: options.otherEndpointSecret
        ? `${stripe.webhookSecret}, ${options.otherEndpointSecret}`
        : stripe.webhookSecret,
      returnUrl: "http://localhost:8080/?claimed={session}",
    },
    payoutFaults: {
      afterTransfer: () => {
        if (options.crashAfterTransfer?.()) throw new Error("simulated crash after transfers.create");
      },
      afterPayout: () => {
        if (options.crashAfterPayout?.()) throw new Error("simulated crash after payouts.create");
      },
    },
  });
  const http = await serveRoutes(records.routes);
  if (options.market)
    await records.sql`update businesses set country = ${options.market.country}, currency = ${options.market.currency}
                      where id = ${records.demo!.businessId}`;
  /** A conversation that earned 20 kr: its reward, the customer's claim, and the reward's state. */
  const converse = async () => {
    const c = new Conversation();
    const begun = await records.beginSession({
      sessionId: c.sessionId,
      storeCode: "demo",
      consent: { given: true, version: "v1" },
      deviceId: randomUUID(),
    });
    records.write(c.started());
    for (const [i, line] of uniqueFeedback(++seed).entries()) records.write(c.segment(i + 1, line));
    records.write(c.ended(80));
    await records.flush();
    const [reward] = await records.sql<{ id: string }[]>`select id from rewards where session_id = ${c.sessionId}`;
    const claim = () =>
      fetch(`${http.url}/api/customer/sessions/${c.sessionId}/reward/claim`, {
        method: "POST",
        headers: { "x-parley-data-code": begun.dataCode },
      });
    const state = async () =>
      (
        await records.sql`select status, stripe_account_id, transfer_id, payout_id, last_error, transfer_attempt, payout_attempt
                          from rewards where id = ${reward!.id}`
      )[0]!;
    /** The customer's reward as the app reads it: alone (GET …/reward), and with their data (GET …/:id). */
    const customerReward = async () => {
      const headers = { "x-parley-data-code": begun.dataCode };
      const url = `${http.url}/api/customer/sessions/${c.sessionId}`;
      const alone = (await (await fetch(`${url}/reward`, { headers })).json()) as { reward: Record<string, unknown> };
      const withData = (await (await fetch(url, { headers })).json()) as { reward: Record<string, unknown> };
      return { alone: alone.reward, withData: withData.reward };
    };
    return { c, rewardId: reward!.id, claim, state, customerReward };
  };
  const deliver = (payload: string, signature: string) =>
    fetch(`${http.url}/api/stripe/webhook`, {
      method: "POST",
      headers: { "content-type": "application/json", "stripe-signature": signature },
      body: payload,
    });
  return {
    records,
    http,
    ...(await converse()),
    /** Another customer's conversation in the same business. */
    converse,
    deliver,
    close: async () => {
      await http.close();
      await records.close();
    },
  };
}

async function onboard(t: Awaited<ReturnType<typeof setup>>) {
  const res = await t.claim();
  expect(res.status).toBe(200);
  const body = (await res.json()) as { status: string; onboardingUrl: string };
  expect(body.status).toBe("onboarding");
  expect(body.onboardingUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/setup\//);
  const { stripe_account_id: account } = await t.state();
  const updated = stripe.webhook("account.updated", stripe.completeOnboarding(account as string), {
    account: account as string,
  });
  expect((await t.deliver(updated.payload, updated.signature)).status).toBe(200);
  return account as string;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Stripe Connect payouts", () => {
  it("claim → onboarding → transfer → payout → payout.paid, with deterministic idempotency keys", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      const s = await until(t.state, (x) => x.status === "payout_pending");
      expect(s.status).toBe("payout_pending");
      expect(stripe.transfers).toHaveLength(1);
      expect(stripe.transfers[0]).toMatchObject({ amount: 2000, currency: "sek", destination: account });
      expect(stripe.payouts).toHaveLength(1);
      const keys = stripe.requests.filter((r) => r.method === "POST").map((r) => `${r.path} ${r.idempotencyKey}`);
      expect(keys).toContain(`/v1/accounts reward:${t.rewardId}:account`);
      expect(keys).toContain(`/v1/transfers reward:${t.rewardId}:transfer:0`);
      expect(keys).toContain(`/v1/payouts reward:${t.rewardId}:payout:0`);
      const paid = stripe.webhook("payout.paid", { ...stripe.payouts[0], status: "paid" }, { account });
      expect((await t.deliver(paid.payload, paid.signature)).status).toBe(200);
      expect((await t.state()).status).toBe("paid");
      // A claim after payment says so, and moves no money.
      expect(await (await t.claim()).json()).toMatchObject({ status: "paid" });
      expect(stripe.transfers).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("opens the customer's account in the business's country (Stripe fixes it at creation)", async () => {
    const t = await setup({ market: { country: "NO", currency: "NOK" } });
    try {
      const account = await onboard(t);
      expect(stripe.accounts.get(account)?.object.country).toBe("NO");
      expect((await t.records.sql`select currency from rewards where id = ${t.rewardId}`)[0]!.currency).toBe("NOK");
    } finally {
      await t.close();
    }
  });

  it("pay once when the process crashes between Stripe's transfer and our database write", async () => {
    let crash = true;
    let crashed!: () => void;
    const crashedOnce = new Promise<void>((resolve) => {
      crashed = resolve;
    });
    const t = await setup({
      crashAfterTransfer: () => {
        if (crash) crashed();
        return crash;
      },
    });
    try {
      await onboard(t);
      await until(t.state, (x) => x.status === "transfer_pending");
      await crashedOnce; // the webhook's payment attempt crashed after Stripe answered
      expect(stripe.transfers).toHaveLength(1);
      expect((await t.state()).status).toBe("transfer_pending");
      crash = false;
      await t.records.payouts!.sweep(); // the restarted node asks Stripe first, and records what it made
      expect((await t.state()).status).toBe("payout_pending");
      expect(stripe.transfers).toHaveLength(1);
      expect(stripe.requests.filter((r) => r.path === "/v1/transfers").map((r) => r.method)).toEqual(["POST", "GET"]);
      const [row] = await t.records.sql`select transfer_id from rewards where id = ${t.rewardId}`;
      expect(row!.transfer_id).toBe(stripe.transfers[0]!.id);
    } finally {
      await t.close();
    }
  });

  it("go on sweeping past a reward whose payment keeps failing for a reason of its own", async () => {
    let crashes = 0;
    const t = await setup({
      crashAfterTransfer: () => {
        crashes++;
        return true; // every attempt fails after Stripe answered (not a Stripe error, not the database)
      },
    });
    try {
      await onboard(t);
      await until(
        async () => crashes,
        (n) => n > 0,
      );
      // Oldest first and never moved on: before, it threw out of every sweep, and no reward after it was paid.
      await expect(t.records.payouts!.sweep()).resolves.toBe(1);
      expect(crashes).toBeGreaterThanOrEqual(2); // the sweep tried it again
      expect((await t.state()).status).toBe("transfer_pending");
    } finally {
      await t.close();
    }
  });

  it("have Stripe redeliver a payout's webhook that came before the payout was recorded, and then apply it", async () => {
    let crash = true;
    let crashed!: () => void;
    const crashedOnce = new Promise<void>((resolve) => {
      crashed = resolve;
    });
    const t = await setup({
      crashAfterPayout: () => {
        if (crash) crashed();
        return crash;
      },
    });
    try {
      const account = await onboard(t);
      await crashedOnce; // Stripe created the payout; the node died before writing it
      expect((await t.state()).status).toBe("transferred");
      expect(stripe.payouts).toHaveLength(1);
      // Stripe is quick: payout.paid arrives before the sweep has written the payout.
      const paid = stripe.webhook("payout.paid", { ...stripe.payouts[0], status: "paid" }, { account });
      const early = await t.deliver(paid.payload, paid.signature);
      expect(early.status).toBeGreaterThanOrEqual(500); // Stripe delivers it again later
      const [{ n }] = (await t.records
        .sql`select count(*)::int as n from stripe_events where id = ${paid.id}`) as unknown as [{ n: number }];
      expect(n).toBe(0);
      crash = false;
      await t.records.payouts!.sweep(); // the same key: Stripe's payout, now written
      expect((await t.state()).status).toBe("payout_pending");
      expect(stripe.payouts).toHaveLength(1);
      const again = await t.deliver(paid.payload, paid.signature);
      expect(again.status).toBe(200);
      expect(await again.json()).toMatchObject({ outcome: "applied" });
      expect((await t.state()).status).toBe("paid");
    } finally {
      await t.close();
    }
  });

  it("ignore a payout webhook that is not one of ours", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      const stranger = stripe.webhook(
        "payout.paid",
        { ...stripe.payouts[0], id: "po_not_ours", status: "paid", metadata: {} },
        { account },
      );
      const res = await t.deliver(stranger.payload, stranger.signature);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ outcome: "ignored" });
      expect((await t.state()).status).toBe("payout_pending");
    } finally {
      await t.close();
    }
  });

  it("apply a webhook once however often Stripe delivers it, and refuse a forged one", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      const failed = stripe.webhook(
        "payout.failed",
        { ...stripe.payouts[0], status: "failed", failure_code: "account_closed" },
        { account },
      );
      const replies = await Promise.all(
        [1, 2, 3].map(() => t.deliver(failed.payload, failed.signature).then((r) => r.json())),
      );
      expect(replies.map((r) => (r as { outcome: string }).outcome).sort()).toEqual([
        "applied",
        "duplicate",
        "duplicate",
      ]);
      // Back in the customer's account, under the next payout key, to be paid out again.
      expect(await t.state()).toMatchObject({ status: "transferred", last_error: "account_closed", payout_attempt: 1 });
      const [{ n }] = (await t.records
        .sql`select count(*)::int as n from stripe_events where id = ${failed.id}`) as unknown as [{ n: number }];
      expect(n).toBe(1);

      const forged = stripe.webhook(
        "payout.paid",
        { ...stripe.payouts[0], status: "paid" },
        { account, secret: "whsec_not_ours" },
      );
      const res = await t.deliver(forged.payload, forged.signature);
      expect(res.status).toBe(400);
      // A body changed after signing fails too: the signature covers the raw bytes.
      const genuine = stripe.webhook("payout.paid", { ...stripe.payouts[0], status: "paid" }, { account });
      expect((await t.deliver(genuine.payload.replace('"paid"', '"paid" '), genuine.signature)).status).toBe(400);
      expect((await t.state()).status).toBe("transferred");
    } finally {
      await t.close();
    }
  });

  it("accept events signed by either of two endpoints' secrets (platform and connected accounts)", async () => {
    const t = await setup({ otherEndpointSecret: "whsec_connected_accounts_endpoint" });
    try {
      const res = await t.claim();
      expect(res.status).toBe(200);
      const { stripe_account_id: account } = await t.state();
      const updated = stripe.webhook("account.updated", stripe.completeOnboarding(account as string), {
        account: account as string,
        secret: "whsec_connected_accounts_endpoint",
      });
      expect((await t.deliver(updated.payload, updated.signature)).status).toBe(200);
      expect((await until(t.state, (x) => x.status === "payout_pending")).status).toBe("payout_pending");
      const forged = stripe.webhook(
        "payout.paid",
        { ...stripe.payouts[0], status: "paid" },
        {
          account: account as string,
          secret: "whsec_not_ours",
        },
      );
      expect((await t.deliver(forged.payload, forged.signature)).status).toBe(400);
    } finally {
      await t.close();
    }
  });

  it("mark a reversed transfer, and never move a reward back to an earlier state", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      const reversed = stripe.webhook("transfer.reversed", {
        ...stripe.transfers[0],
        reversed: true,
        amount_reversed: 2000,
      });
      await t.deliver(reversed.payload, reversed.signature);
      expect((await t.state()).status).toBe("reversed");
      const late = stripe.webhook("payout.paid", { ...stripe.payouts[0], status: "paid" }, { account });
      expect(await (await t.deliver(late.payload, late.signature)).json()).toMatchObject({ outcome: "applied" });
      expect((await t.state()).status).toBe("reversed");
    } finally {
      await t.close();
    }
  });

  it("keep the reward pending when the platform balance is short, and pay once it is topped up", async () => {
    const t = await setup();
    try {
      stripe.platformBalance = 100; // 1 kr
      await onboard(t);
      const s = await until(t.state, (x) => x.last_error !== null);
      expect(s).toMatchObject({ status: "transfer_pending" });
      expect(String(s.last_error)).toMatch(/balance_insufficient/);
      stripe.platformBalance = 100_000;
      await t.records.payouts!.sweep();
      expect((await t.state()).status).toBe("payout_pending");
      expect(stripe.transfers).toHaveLength(1);
      // Stripe replays a key's stored error: the retry after a definite refusal needs the next key.
      const keys = stripe.requests
        .filter((r) => r.method === "POST" && r.path === "/v1/transfers")
        .map((r) => r.idempotencyKey);
      expect(keys).toEqual([`reward:${t.rewardId}:transfer:0`, `reward:${t.rewardId}:transfer:1`]);
    } finally {
      await t.close();
    }
  });
  it("keep the transfer's key while Stripe says a request with it is still running (409), so it is sent once", async () => {
    const t = await setup();
    try {
      // Another node's request with key :0 is under way: every try of ours, the SDK's retries included, gets 409.
      stripe.conflictNext("/v1/transfers", 3);
      await onboard(t);
      const s = await until(t.state, (x) => x.last_error !== null);
      expect(s).toMatchObject({ status: "transfer_pending" });
      expect(String(s.last_error)).toMatch(/in-progress request/);
      await t.records.payouts!.sweep();
      expect((await t.state()).status).toBe("payout_pending");
      expect(stripe.transfers).toHaveLength(1);
      // Not a definite refusal: the retry used the same key, so a transfer under way is not doubled by a new one.
      const keys = new Set(
        stripe.requests.filter((r) => r.method === "POST" && r.path === "/v1/transfers").map((r) => r.idempotencyKey),
      );
      expect([...keys]).toEqual([`reward:${t.rewardId}:transfer:0`]);
    } finally {
      await t.close();
    }
  });

  it("answer a claim 503 with Retry-After while Stripe cannot answer (busy, unreachable), and keep the reward", async () => {
    const t = await setup();
    try {
      // A request with the account's key still running at Stripe: 409 to every try, the SDK's retries included.
      stripe.conflictNext("/v1/accounts", 3);
      const busy = await t.claim();
      expect(busy.status).toBe(503);
      expect(busy.headers.get("retry-after")).toBe("30");
      expect(await busy.json()).toEqual({
        error: "the payment service cannot be reached now: your reward is kept, try again in a minute",
      });
      expect((await t.state()).status).toBe("claimable");
      // Tried again, the claim goes through.
      expect(await (await t.claim()).json()).toMatchObject({ status: "onboarding" });
      await stripe.close(); // Stripe unreachable
      const down = await t.claim();
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("30");
      expect((await t.state()).status).toBe("onboarding");
    } finally {
      await t.close();
    }
  });

  it("answer a claim that Stripe refuses 502, without Retry-After, and keep the reward", async () => {
    const t = await setup();
    try {
      stripe.failNext("/v1/accounts", 400, {
        type: "invalid_request_error",
        code: "country_unsupported",
        message: "Connected accounts cannot be created in this country.",
      });
      const res = await t.claim();
      expect(res.status).toBe(502);
      expect(res.headers.get("retry-after")).toBeNull();
      expect(await res.json()).toEqual({
        error: "the payment service refused this claim: your reward is kept; ask the store if this goes on",
      });
      expect((await t.state()).status).toBe("claimable");
    } finally {
      await t.close();
    }
  });

  it("claim under the account's next key after Stripe refused it (Stripe replays a refusal for its key), not after a 409", async () => {
    const t = await setup();
    try {
      // Another request with the account's key still running: no answer yet, so the key stays.
      stripe.conflictNext("/v1/accounts", 3);
      expect((await t.claim()).status).toBe(503);
      stripe.failNext("/v1/accounts", 400, {
        type: "invalid_request_error",
        message: "Please review the responsibilities of managing losses for connected accounts.",
      });
      expect((await t.claim()).status).toBe(502);
      // The platform fixed its settings: the next claim goes through instead of getting the stored refusal.
      expect(await (await t.claim()).json()).toMatchObject({ status: "onboarding" });
      const sent = stripe.requests
        .filter((r) => r.path === "/v1/accounts")
        .map((r) => `${r.idempotencyKey}${r.replayed ? " (replayed)" : ""}`);
      const key = `reward:${t.rewardId}:account`;
      expect(sent).toEqual([key, key, key, key, `${key}:1`]);
      expect(stripe.accounts.size).toBe(1);
      const [row] = await t.records.sql`select account_attempt from rewards where id = ${t.rewardId}`;
      expect(row!.account_attempt).toBe(1); // in the database: a restarted node uses the same next key
    } finally {
      await t.close();
    }
  });

  it("the sweep exports how long the oldest payout has waited for Stripe's webhook", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      // As if the payout had been created 26 hours ago and its webhook never came.
      await t.records.sql`update rewards set updated_at = now() - interval '26 hours' where id = ${t.rewardId}`;
      await t.records.payouts!.sweep();
      const age = async () =>
        (await register.getSingleMetric("reward_payout_pending_oldest_age_seconds")!.get()).values[0]?.value;
      expect(await age()).toBeGreaterThanOrEqual(26 * 3600);
      expect(await age()).toBeLessThan(27 * 3600);
      const paid = stripe.webhook("payout.paid", { ...stripe.payouts[0], status: "paid" }, { account });
      expect((await t.deliver(paid.payload, paid.signature)).status).toBe(200);
      await t.records.payouts!.sweep();
      expect(await age()).toBe(0);
    } finally {
      await t.close();
    }
  });
});

describe("paying once whatever Stripe answered meanwhile, and again after a failed payout", () => {
  /** A crash after Stripe made the transfer (or payout), before our write: the first attempt's. */
  function crashOnce() {
    let crash = true;
    let crashed!: () => void;
    const once = new Promise<void>((resolve) => {
      crashed = resolve;
    });
    return {
      fault: () => {
        if (crash) crashed();
        return crash;
      },
      crashed: once,
      stop: () => {
        crash = false;
      },
    };
  }
  const posts = (path: string) =>
    stripe.requests.filter((r) => r.method === "POST" && r.path === path).map((r) => r.idempotencyKey);
  /** As if the reward had entered its state, or been tried last, that long ago. */
  const movedAgo = (t: Awaited<ReturnType<typeof setup>>, ago: string) =>
    t.records.sql`update rewards set updated_at = now() - ${ago}::interval where id = ${t.rewardId}`;

  it("a 401 (a rolled API key) between a crash and the retry, then a day: one transfer", async () => {
    const crash = crashOnce();
    const t = await setup({ crashAfterTransfer: crash.fault });
    try {
      await onboard(t);
      await crash.crashed; // Stripe made the transfer; the node died before writing it
      crash.stop();
      // A node still on the rolled key sweeps: Stripe answers 401 before it looks at the idempotency key.
      const stale = new StripePayouts(t.records.sql, silentLogger, {
        ...stripe.clientOptions,
        secretKey: "sk_test_rolled_away",
        webhookSecret: stripe.webhookSecret,
        returnUrl: "http://localhost:8080/",
      });
      await stale.sweep();
      expect(await t.state()).toMatchObject({ status: "transfer_pending", transfer_attempt: 0 });
      // The key is fixed a day later, when Stripe no longer keeps the transfer's idempotency key.
      stripe.expireIdempotencyKeys();
      await t.records.payouts!.sweep();
      expect(await t.state()).toMatchObject({ status: "payout_pending", transfer_id: stripe.transfers[0]!.id });
      expect(stripe.transfers).toHaveLength(1);
      expect(stripe.platformBalance).toBe(100_000 - 2000);
      expect(posts("/v1/transfers")).toEqual([`reward:${t.rewardId}:transfer:0`]);
    } finally {
      await t.close();
    }
  });

  it("keep a key after a 403 or an idempotency_error (nothing said of the earlier request), not after a refusal", async () => {
    const t = await setup();
    try {
      // A restricted key: Stripe turns the first transfer away before it looks at the idempotency key.
      stripe.rejectNext("POST", "/v1/transfers", 403, {
        type: "invalid_request_error",
        message: "The provided key does not have the required permissions for this endpoint.",
      });
      await onboard(t);
      const s = await until(t.state, (x) => x.last_error !== null);
      expect(s).toMatchObject({ status: "transfer_pending", transfer_attempt: 0 });
      stripe.rejectNext("POST", "/v1/transfers", 400, {
        type: "idempotency_error",
        message: "Keys for idempotent requests can only be used with the same parameters they were first used with.",
      });
      await t.records.payouts!.sweep();
      expect(await t.state()).toMatchObject({ status: "transfer_pending", transfer_attempt: 0 });
      await t.records.payouts!.sweep();
      expect((await t.state()).status).toBe("payout_pending");
      const key = `reward:${t.rewardId}:transfer:0`;
      expect(posts("/v1/transfers")).toEqual([key, key, key]);
      expect(stripe.transfers).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("open one connected account when a 401 came between Stripe's account and our write", async () => {
    const t = await setup();
    try {
      expect(await (await t.claim()).json()).toMatchObject({ status: "onboarding" });
      const { stripe_account_id: account } = await t.state();
      // As if the node had died before writing the account Stripe opened.
      await t.records.sql`update rewards set stripe_account_id = null, status = 'claimable' where id = ${t.rewardId}`;
      stripe.rejectNext("POST", "/v1/accounts", 401, {
        type: "invalid_request_error",
        message: "Invalid API Key provided: sk_test_****",
      });
      expect((await t.claim()).status).toBe(502);
      expect(await (await t.claim()).json()).toMatchObject({ status: "onboarding" });
      expect((await t.state()).stripe_account_id).toBe(account); // Stripe replayed the account under its key
      expect(stripe.accounts.size).toBe(1);
    } finally {
      await t.close();
    }
  });

  it("adopt a payout Stripe made when its key no longer finds it, instead of a balance_insufficient every sweep", async () => {
    const crash = crashOnce();
    const t = await setup({ crashAfterPayout: crash.fault });
    try {
      const account = await onboard(t);
      await crash.crashed; // Stripe made the payout; the node died before writing it
      crash.stop();
      expect((await t.state()).status).toBe("transferred");
      // Stripe unreachable for a day: the payout's idempotency key is gone when the sweep retries.
      stripe.expireIdempotencyKeys();
      await t.records.payouts!.sweep();
      expect(await t.state()).toMatchObject({ status: "payout_pending", payout_id: stripe.payouts[0]!.id });
      expect(posts("/v1/payouts")).toEqual([`reward:${t.rewardId}:payout:0`]);
      // Stripe's webhook for it is applied, not answered 503 forever.
      const paid = stripe.webhook("payout.paid", stripe.settlePayout(stripe.payouts[0]!.id as string, "paid"), {
        account,
      });
      expect((await t.deliver(paid.payload, paid.signature)).status).toBe(200);
      expect((await t.state()).status).toBe("paid");
      expect(stripe.payouts).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("pay a failed payout out again once the customer gave new bank details", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      const first = stripe.payouts[0]!.id as string;
      const failed = stripe.webhook("payout.failed", stripe.settlePayout(first, { failureCode: "account_closed" }), {
        account,
      });
      expect((await t.deliver(failed.payload, failed.signature)).status).toBe(200);
      expect(await t.state()).toMatchObject({ status: "transferred", payout_attempt: 1, last_error: "account_closed" });
      // The account cannot take payouts until the customer gives new bank details: none is tried.
      await movedAgo(t, "61 minutes");
      await t.records.payouts!.sweep();
      expect((await t.state()).status).toBe("transferred");
      expect(stripe.payouts).toHaveLength(1);
      // Claiming again sends the customer to Stripe's form for the bank details.
      const claim = (await (await t.claim()).json()) as { status: string; onboardingUrl: string };
      expect(claim).toMatchObject({ status: "account_update" });
      expect(claim.onboardingUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/setup\//);
      // They give them: account.updated pays the reward out under the next key.
      const updated = stripe.webhook("account.updated", stripe.completeOnboarding(account), { account });
      expect((await t.deliver(updated.payload, updated.signature)).status).toBe(200);
      const s = await until(t.state, (x) => x.status === "payout_pending");
      expect(s.status).toBe("payout_pending");
      expect(posts("/v1/payouts")).toEqual([`reward:${t.rewardId}:payout:0`, `reward:${t.rewardId}:payout:1`]);
      const second = stripe.payouts[1]!;
      expect(s.payout_id).toBe(second.id);
      const paid = stripe.webhook("payout.paid", stripe.settlePayout(second.id as string, "paid"), { account });
      expect((await t.deliver(paid.payload, paid.signature)).status).toBe(200);
      expect((await t.state()).status).toBe("paid");
      expect(stripe.transfers).toHaveLength(1);
    } finally {
      await t.close();
    }
  });

  it("tell the customer a failed payout waits on their bank details, in both answers of their reward", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      const onItsWay = { status: "payout_pending", payoutFailed: false };
      expect(await t.customerReward()).toMatchObject({ alone: onItsWay, withData: onItsWay });
      const payout = stripe.payouts[0]!.id as string;
      const failed = stripe.webhook("payout.failed", stripe.settlePayout(payout, { failureCode: "account_closed" }), {
        account,
      });
      expect((await t.deliver(failed.payload, failed.signature)).status).toBe(200);
      const waiting = { status: "transferred", payoutFailed: true };
      const told = await t.customerReward();
      expect(told).toMatchObject({ alone: waiting, withData: waiting });
      // What the customer needs, not Stripe's words for it.
      expect(JSON.stringify(told)).not.toMatch(/account_closed|po_|acct_/);
      // The bank details given again, the payout goes: no longer failed.
      const updated = stripe.webhook("account.updated", stripe.completeOnboarding(account), { account });
      expect((await t.deliver(updated.payload, updated.signature)).status).toBe(200);
      await until(t.state, (x) => x.status === "payout_pending");
      expect(await t.customerReward()).toMatchObject({ alone: onItsWay, withData: onItsWay });
    } finally {
      await t.close();
    }
  });

  it("not ask for bank details when Stripe refused to make the payout: no bank failed, none would fix it", async () => {
    const t = await setup();
    try {
      stripe.failNext("/v1/payouts", 400, {
        type: "invalid_request_error",
        code: "balance_insufficient",
        message: "You have insufficient funds in your Stripe account for this transfer.",
      });
      await onboard(t);
      // Refused for its content: the key moves on, the reward waits in transferred for the sweep.
      const s = await until(t.state, (x) => x.payout_attempt === 1);
      expect(s).toMatchObject({ status: "transferred" });
      expect(stripe.payouts).toHaveLength(0);
      const notFailed = { status: "transferred", payoutFailed: false };
      expect(await t.customerReward()).toMatchObject({ alone: notFailed, withData: notFailed });
    } finally {
      await t.close();
    }
  });

  it("pay out again a reward older code left in payout_failed (migration 0014), by the sweep", async () => {
    const t = await setup();
    try {
      const account = await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      stripe.settlePayout(stripe.payouts[0]!.id as string, { failureCode: "no_account" });
      await t.records
        .sql`update rewards set status = 'payout_failed', last_error = 'no_account' where id = ${t.rewardId}`;
      await t.records.sql.unsafe(loadMigrations().find((m) => m.version === 14)!.sql);
      expect(await t.state()).toMatchObject({ status: "transferred", payout_attempt: 1 });
      stripe.completeOnboarding(account); // new bank details; account.updated is never delivered
      await t.records.payouts!.sweep();
      expect((await t.state()).status).toBe("transferred"); // tried again only after the grace
      await movedAgo(t, "61 minutes");
      await t.records.payouts!.sweep();
      expect((await t.state()).status).toBe("payout_pending");
      expect(posts("/v1/payouts")).toEqual([`reward:${t.rewardId}:payout:0`, `reward:${t.rewardId}:payout:1`]);
    } finally {
      await t.close();
    }
  });

  it("apply a payout whose payout.paid never came, once it is overdue, asking Stripe about it now and then", async () => {
    const t = await setup();
    try {
      await onboard(t);
      await until(t.state, (x) => x.status === "payout_pending");
      const payout = stripe.payouts[0]!.id as string;
      const checks = () =>
        stripe.requests.filter((r) => r.method === "GET" && r.path === `/v1/payouts/${payout}`).length;
      /** As if the payout had been made that long ago. */
      const madeAgo = async (ago: string) => {
        await movedAgo(t, ago);
        await t.records.sql`update payouts set updated_at = now() - ${ago}::interval where id = ${payout}`;
      };
      await madeAgo("2 days");
      await t.records.payouts!.sweep();
      expect(checks()).toBe(0); // its webhook may still come
      await madeAgo("3 days 1 hour");
      await t.records.payouts!.sweep();
      expect(checks()).toBe(1);
      expect((await t.state()).status).toBe("payout_pending"); // still on its way at Stripe
      await t.records.payouts!.sweep();
      expect(checks()).toBe(1); // not asked again at once
      stripe.settlePayout(payout, "paid"); // the bank paid it; payout.paid is lost
      await t.records.sql`update payouts set updated_at = now() - interval '7 hours' where id = ${payout}`;
      await t.records.payouts!.sweep();
      expect(checks()).toBe(2);
      expect((await t.state()).status).toBe("paid");
      const [row] = await t.records.sql`select status from payouts where id = ${payout}`;
      expect(row!.status).toBe("paid");
    } finally {
      await t.close();
    }
  });
});

describe("the sweep asks Stripe about accounts whose account.updated did not come", () => {
  type Customer = Pick<Awaited<ReturnType<typeof setup>>, "claim" | "state">;

  /** The customer claims and is sent to Stripe's onboarding: the reward's connected account. */
  async function claimToOnboarding(customer: Customer): Promise<string> {
    expect(await (await customer.claim()).json()).toMatchObject({ status: "onboarding" });
    return (await customer.state()).stripe_account_id as string;
  }
  /** GET /v1/accounts/<id> requests (accounts.retrieve) the double has answered. */
  const accountChecks = (account: string) =>
    stripe.requests.filter((r) => r.method === "GET" && r.path === `/v1/accounts/${account}`).length;
  /** As if the reward had entered onboarding, or been checked last, that long ago. */
  const movedAgo = (t: Awaited<ReturnType<typeof setup>>, rewardId: string, ago: string) =>
    t.records.sql`update rewards set updated_at = now() - ${ago}::interval where id = ${rewardId}`;
  const retrievesCounted = async () =>
    (await register.getSingleMetric("stripe_requests_total")!.get()).values.find(
      (v) => v.labels.operation === "accounts.retrieve" && v.labels.outcome === "ok",
    )?.value ?? 0;

  it("pay a customer who finished onboarding when no webhook came nor the customer back, once the grace passed", async () => {
    const t = await setup();
    try {
      const account = await claimToOnboarding(t);
      stripe.completeOnboarding(account); // at Stripe; account.updated is never delivered
      await movedAgo(t, t.rewardId, "61 minutes");
      const counted = await retrievesCounted();
      await expect(t.records.payouts!.sweep()).resolves.toBe(1);
      expect((await t.state()).status).toBe("payout_pending");
      expect(stripe.transfers).toHaveLength(1);
      expect(stripe.transfers[0]).toMatchObject({ amount: 2000, currency: "sek", destination: account });
      expect(stripe.payouts).toHaveLength(1);
      expect(await retrievesCounted()).toBe(counted + 1); // through #call: stripe_requests_total counts it
    } finally {
      await t.close();
    }
  });

  it("ask about an unfinished account once, and again only after another grace, not every sweep", async () => {
    const t = await setup();
    try {
      const account = await claimToOnboarding(t);
      const claimed = accountChecks(account); // the claim itself asked once
      await movedAgo(t, t.rewardId, "2 hours");
      await t.records.payouts!.sweep();
      expect(accountChecks(account)).toBe(claimed + 1);
      expect((await t.state()).status).toBe("onboarding");
      await t.records.payouts!.sweep(); // a minute later: not asked again
      await t.records.payouts!.sweep();
      expect(accountChecks(account)).toBe(claimed + 1);
      await movedAgo(t, t.rewardId, "61 minutes"); // the grace passed since the check
      await t.records.payouts!.sweep();
      expect(accountChecks(account)).toBe(claimed + 2);
      expect((await t.state()).status).toBe("onboarding");
    } finally {
      await t.close();
    }
  });

  it("leave an account alone within the grace (the webhook normally comes within seconds) and after 30 days", async () => {
    const t = await setup();
    try {
      const account = await claimToOnboarding(t);
      stripe.completeOnboarding(account);
      const claimed = accountChecks(account);
      await movedAgo(t, t.rewardId, "59 minutes");
      await t.records.payouts!.sweep();
      expect(accountChecks(account)).toBe(claimed);
      expect((await t.state()).status).toBe("onboarding");
      // Granted 31 days ago and checked every hour since: abandoned, no longer asked about.
      await t.records.sql`update rewards set created_at = now() - interval '31 days' where id = ${t.rewardId}`;
      await movedAgo(t, t.rewardId, "2 hours");
      await t.records.payouts!.sweep();
      expect(accountChecks(account)).toBe(claimed);
      expect((await t.state()).status).toBe("onboarding");
      // Granted yesterday, the same account is asked about and paid: only the times kept it waiting.
      await t.records.sql`update rewards set created_at = now() - interval '1 day' where id = ${t.rewardId}`;
      await t.records.payouts!.sweep();
      expect(accountChecks(account)).toBe(claimed + 1);
      expect((await t.state()).status).toBe("payout_pending");
    } finally {
      await t.close();
    }
  });

  it("log a Stripe error for one account with its reward, and go on to the next account", async () => {
    const lines: { level: number; msg: string; rewardId?: string }[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const t = await setup({ logger: pino({ level: "info" }, stream) });
    try {
      const gone = await claimToOnboarding(t);
      const other = await t.converse();
      const ready = await claimToOnboarding(other);
      stripe.completeOnboarding(ready);
      await movedAgo(t, t.rewardId, "3 hours"); // the older: asked first
      await movedAgo(t, other.rewardId, "2 hours");
      stripe.failNext(`/v1/accounts/${gone}`, 404, {
        type: "invalid_request_error",
        code: "resource_missing",
        message: `No such account: '${gone}'`,
      });
      await expect(t.records.payouts!.sweep()).resolves.toBe(1);
      expect((await t.state()).status).toBe("onboarding");
      expect((await other.state()).status).toBe("payout_pending");
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: "onboarding check failed; the sweep goes on", rewardId: t.rewardId }),
      );
      // Asked again only after the grace, like an account not finished.
      const checked = accountChecks(gone);
      await t.records.payouts!.sweep();
      expect(accountChecks(gone)).toBe(checked);
    } finally {
      await t.close();
    }
  });
});

describe("StripeTestDouble (a test double of Stripe's API)", () => {
  it("replays the stored response for a repeated key and refuses the key with other parameters, as Stripe does", async () => {
    stripe = await StripeTestDouble.start();
    const client = new Stripe(stripe.apiKey, {
      host: "127.0.0.1",
      port: stripe.port,
      protocol: "http",
      maxNetworkRetries: 0,
    });
    const account = await client.accounts.create({ type: "express", country: "SE" }, { idempotencyKey: "k1" });
    stripe.completeOnboarding(account.id);
    const a = await client.transfers.create(
      { amount: 500, currency: "sek", destination: account.id },
      { idempotencyKey: "t1" },
    );
    const b = await client.transfers.create(
      { amount: 500, currency: "sek", destination: account.id },
      { idempotencyKey: "t1" },
    );
    expect(b.id).toBe(a.id);
    expect(stripe.transfers).toHaveLength(1);
    const other = client.transfers.create(
      { amount: 900, currency: "sek", destination: account.id },
      { idempotencyKey: "t1" },
    );
    await expect(other).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    // A key turned away before Stripe looks at it (a restricted key's 403) keeps its stored result.
    stripe.rejectNext("POST", "/v1/transfers", 403, { type: "invalid_request_error", message: "not permitted" });
    const params = { amount: 500, currency: "sek", destination: account.id };
    await expect(client.transfers.create(params, { idempotencyKey: "t1" })).rejects.toBeInstanceOf(
      Stripe.errors.StripePermissionError,
    );
    expect((await client.transfers.create(params, { idempotencyKey: "t1" })).id).toBe(a.id);
    // A day later the key is new again.
    stripe.expireIdempotencyKeys();
    expect((await client.transfers.create(params, { idempotencyKey: "t1" })).id).not.toBe(a.id);
    // Lists as Stripe pages them: filtered, newest first, has_more past the limit.
    const inGroup = { amount: 100, currency: "sek", destination: account.id, transfer_group: "g1" };
    const c = await client.transfers.create(inGroup, { idempotencyKey: "g1-1" });
    const d = await client.transfers.create(inGroup, { idempotencyKey: "g1-2" });
    const page = await client.transfers.list({ transfer_group: "g1", limit: 1 });
    expect([page.data.map((t) => t.id), page.has_more]).toEqual([[d.id], true]);
    const all: string[] = [];
    for await (const t of client.transfers.list({ transfer_group: "g1", limit: 1 })) all.push(t.id);
    expect(all).toEqual([d.id, c.id]);
    const bad = new Stripe("sk_test_wrong", {
      host: "127.0.0.1",
      port: stripe.port,
      protocol: "http",
      maxNetworkRetries: 0,
    });
    await expect(bad.balance.retrieve()).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    await expect(client.accounts.retrieve("acct_missing")).rejects.toMatchObject({
      code: "resource_missing",
      statusCode: 404,
    });
  });
});
