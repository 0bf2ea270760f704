// A reward whose payout the customer's bank did not take (payout.failed), in
// real Chromium on a node paying through Stripe (StripeTestDouble, a test double
// of Stripe's API): "Your data" says so and offers to update the bank details,
// which claims and goes to Stripe's form; back in the app (/?claimed=<session>)
// it asks again while the details are not given, and says the reward is on its
// way once they are and the payout went. The conversation and its reward are
// written straight into the records, then paid out and failed as Stripe would.
import { randomUUID } from "node:crypto";
import { StripeTestDouble } from "@parley/records/testing";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { endedConversation } from "./endedConversation.ts";
import { startServer } from "./harness.ts";

let server: ParleyServer;
let stripe: StripeTestDouble;
let browser: Browser;
beforeAll(async () => {
  stripe = await StripeTestDouble.start();
  server = await startServer({
    STRIPE_SECRET_KEY: stripe.apiKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
  });
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await stripe?.close();
});

/** Stripe delivers one event to the node's webhook. */
async function deliver(type: string, object: Record<string, unknown>, account: string): Promise<void> {
  const event = stripe.webhook(type, object, { account });
  const res = await fetch(`${server.url}/api/stripe/webhook`, {
    method: "POST",
    headers: { "content-type": "application/json", "stripe-signature": event.signature },
    body: event.payload,
  });
  expect(res.status).toBe(200);
}

/** An ended conversation at the demo store whose 5 kr reward was paid out, and the payout failed. */
async function payoutFailed(): Promise<{ sessionId: string; dataCode: string; rewardId: string; account: string }> {
  const { sessionId, dataCode } = await endedConversation(server);
  const sql = server.records.sql;
  const rewardId = randomUUID();
  await sql`
    insert into rewards (id, session_id, business_id, store_id, amount_minor, currency, status, reason, created_at)
    select ${rewardId}, id, business_id, store_id, 500, 'SEK', 'claimable', 'tier', now() from sessions
    where id = ${sessionId}`;
  const status = async () => (await sql`select status from rewards where id = ${rewardId}`)[0]!.status as string;
  // Claimed and onboarded: transferred and paid out.
  expect(await server.records.payouts!.claim(rewardId)).toMatchObject({ status: "onboarding" });
  const [{ stripe_account_id: account }] = (await sql`
    select stripe_account_id from rewards where id = ${rewardId}`) as unknown as [{ stripe_account_id: string }];
  await deliver("account.updated", stripe.completeOnboarding(account), account);
  await expect.poll(status).toBe("payout_pending");
  // The bank returns it: the money is back on the customer's account, its bank account errored.
  const payout = stripe.payouts.find((p) => (p.metadata as { reward_id?: string }).reward_id === rewardId)!
    .id as string;
  await deliver("payout.failed", stripe.settlePayout(payout, { failureCode: "account_closed" }), account);
  await expect.poll(status).toBe("transferred");
  return { sessionId, dataCode, rewardId, account };
}

describe("a reward whose payout failed", () => {
  it("asks the customer for their bank details until the payout goes, then says it is on its way", async () => {
    const { sessionId, dataCode, rewardId, account } = await payoutFailed();
    const page = await browser.newPage({ locale: "en-GB" });
    // Stripe's hosted form: the first time the customer leaves it unfinished, the second time gives
    // new bank details; each time Stripe sends them back to the app.
    const visited: string[] = [];
    await page.route(`http://127.0.0.1:${stripe.port}/setup/**`, async (route) => {
      visited.push(route.request().url());
      if (visited.length === 2) stripe.completeOnboarding(account);
      await route.fulfill({ status: 302, headers: { location: `${server.url}/?claimed=${sessionId}` } });
    });

    await page.goto(`${server.url}/?data&lang=en#${dataCode}`);
    await page.getByTestId("data-kept").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("data-reward").textContent()).toMatch(/\(your bank could not receive it\)/);
    const result = page.getByTestId("claim-result");
    expect(await result.getAttribute("data-state")).toBe("payout_failed");
    expect(await result.textContent()).toBe(
      "Your bank could not receive the payout. Your reward is kept on your payout account: update your bank details to get it.",
    );
    const update = page.getByTestId("claim");
    expect(await update.textContent()).toBe("Update my bank details");

    // The button claims and follows the link to Stripe's form for this account.
    await update.click();
    await page.waitForURL(`${server.url}/?claimed=${sessionId}`, { timeout: 15_000 });
    expect(visited).toHaveLength(1);
    expect(visited[0]).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${stripe.port}/setup/e/${account}/`));
    // Back unfinished: claimed again at once, and asked again.
    await page.getByTestId("claim-return").waitFor({ timeout: 15_000 });
    await expect.poll(() => update.isEnabled(), { timeout: 15_000 }).toBe(true);
    expect(await result.getAttribute("data-state")).toBe("payout_failed");
    expect(stripe.payouts).toHaveLength(1);

    // Given this time: back in the app, the claim pays it out (no webhook needed).
    await update.click();
    await result.and(page.locator('[data-state="paying"]')).waitFor({ timeout: 20_000 });
    expect(await result.textContent()).toBe("Your reward is on its way to your account.");
    expect(visited).toHaveLength(2);
    await expect.poll(() => stripe.payouts.length, { timeout: 20_000 }).toBe(2);
    await expect
      .poll(async () => (await server.records.sql`select status from rewards where id = ${rewardId}`)[0]!.status)
      .toBe("payout_pending");

    // "Your data" says so too, and asks for nothing.
    await page.goto(`${server.url}/?data&lang=en#${dataCode}`);
    await page.getByTestId("data-kept").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("data-reward").textContent()).toMatch(/\(on its way\)/);
    expect(await page.getByTestId("claim").count()).toBe(0);
    await page.close();
  }, 90_000);

  it("says on its way at once in 'Your data' when the details were given already elsewhere", async () => {
    const { dataCode, account } = await payoutFailed();
    stripe.completeOnboarding(account); // e.g. through Stripe's own e-mail to the account holder
    const page = await browser.newPage({ locale: "en-GB" });
    await page.goto(`${server.url}/?data&lang=en#${dataCode}`);
    await page.getByTestId("data-kept").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("data-reward").textContent()).toMatch(/\(your bank could not receive it\)/);
    await page.getByTestId("claim").click();
    await page.locator('[data-testid="claim-result"][data-state="paying"]').waitFor({ timeout: 20_000 });
    // The line above no longer contradicts it.
    expect(await page.getByTestId("data-reward").textContent()).toMatch(/\(on its way\)/);
    await page.close();
  }, 60_000);
});
