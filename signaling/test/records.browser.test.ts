// Consent, a conversation, the reward on the end screen, and the records in
// the database afterwards, in a real browser against a real node and a real
// PostgreSQL.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { StripeTestDouble } from "@parley/records/testing";
import type { Browser } from "playwright-core";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import { payEveryConversation, spokenFeedback, untilSpoken } from "./rewardedFeedback.ts";

let server: ParleyServer;
let browser: Browser | undefined;
/** Stripe's API as the node's payouts use it (a test double speaking Stripe's wire protocol). */
let stripe: StripeTestDouble;
const work = mkdtempSync(path.join(tmpdir(), "parley-records-"));

beforeAll(async () => {
  stripe = await StripeTestDouble.start();
  server = await startServer({
    STRIPE_SECRET_KEY: stripe.apiKey,
    STRIPE_WEBHOOK_SECRET: stripe.webhookSecret,
    STRIPE_API_URL: `http://127.0.0.1:${stripe.port}`,
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
  await stripe?.close();
});

describe("records in a real browser", () => {
  it("asks for consent, pays a reward on the end screen, and keeps the conversation in the database", async () => {
    await payEveryConversation(server);
    const { wav, seconds } = spokenFeedback(work);
    browser = await launchChromium({ microphoneWav: wav });
    const page = await browser.newPage();
    await page.goto(`${server.url}/?store=demo&receipt=R-1&audio=raw`);

    // Consent comes before the microphone: what is recorded, for how long, why.
    const consent = page.getByTestId("consent");
    await consent.waitFor({ timeout: 10_000 });
    expect(await consent.textContent()).toMatch(/record/i);
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 15_000 });
    const spoken = untilSpoken(seconds);
    await page.locator('[data-final="1"]').first().waitFor({ timeout: 30_000 });
    // A screen reader does not read the customer's words back into the open microphone.
    expect(await page.getByTestId("transcript").getAttribute("aria-live")).toBeNull();
    await spoken();
    await page.getByTestId("finish").click();

    const reward = page.getByTestId("reward");
    await reward.waitFor({ timeout: 30_000 });
    // The button pressed is gone: focus is on the end screen's heading, which a screen reader reads.
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-testid"))).toBe("thanks");
    expect(await reward.getAttribute("data-amount-minor")).toBe("500");
    const dataCode = (await page.getByTestId("data-code").locator("code").textContent())?.trim() ?? "";
    expect(dataCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const finalsShown = await page.$$eval('[data-final="1"]', (els) => els.map((e) => e.textContent?.trim() ?? ""));
    const scoreShown = Number((await page.getByTestId("final-score").textContent())?.match(/\d+/)?.[0]);

    // The database holds what the customer saw.
    expect(await server.records.flush()).toBe(true);
    const sql = postgres(server.config.records.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      const [session] = await sql`
        select id, status, consent_version, consent_given_at, device_hash, receipt_ref
        from sessions order by created_at desc limit 1`;
      expect(session).toMatchObject({ status: "ended", receipt_ref: "R-1" });
      expect(session!.consent_version).toMatch(/\S/);
      expect(session!.consent_given_at).toBeInstanceOf(Date);
      expect(session!.device_hash).toMatch(/\S/);
      const segments = await sql`select text from transcript_segments where session_id = ${session!.id}`;
      expect(segments.length).toBe(finalsShown.filter(Boolean).length);
      const [final] = await sql`select score from final_scores where session_id = ${session!.id}`;
      expect(final?.score).toBe(scoreShown);
      const [rewardRow] = await sql`select amount_minor, currency from rewards where session_id = ${session!.id}`;
      // amount_minor is a bigint column: postgres.js hands it over as a string.
      expect({ amount: Number(rewardRow?.amount_minor), currency: rewardRow?.currency }).toEqual({
        amount: 500,
        currency: "SEK",
      });

      // "Get paid": the customer goes to Stripe's onboarding, which sends them back to the app
      // (here the first time before finishing it, the second time finished).
      let onboardingVisits = 0;
      await page.route(`http://127.0.0.1:${stripe.port}/setup/**`, async (route) => {
        if (++onboardingVisits === 2) stripe.completeOnboarding([...stripe.accounts.keys()][0]!);
        await route.fulfill({ status: 302, headers: { location: `${server.url}/?claimed=${session!.id}` } });
      });
      await page.getByTestId("claim").click();
      const result = page.getByTestId("claim-result");
      await result.and(page.locator('[data-state="unfinished"]')).waitFor({ timeout: 20_000 });
      // Back on the app, it still knows the conversation (the code is not in the address) and shows it.
      expect(await page.getByTestId("data-code").locator("code").textContent()).toBe(dataCode);
      expect(page.url()).not.toContain(dataCode);
      // Nothing to claim (as if the reward had been withheld meanwhile: the API answers 409): the page
      // says where the reward stands, not "try again later".
      await sql`update rewards set status = 'withheld' where session_id = ${session!.id}`;
      await page.getByTestId("claim").click();
      await result.and(page.locator('[data-state="none"]')).waitFor({ timeout: 20_000 });
      expect(await page.getByRole("alert").count()).toBe(0);
      await sql`update rewards set status = 'onboarding' where session_id = ${session!.id}`;
      await page.reload(); // claimed again at once: the account is still not set up
      await result.and(page.locator('[data-state="unfinished"]')).waitFor({ timeout: 20_000 });
      await page.getByTestId("claim").click();
      await result.and(page.locator('[data-state="paying"]')).waitFor({ timeout: 20_000 });
      expect(onboardingVisits).toBe(2);
      await expect.poll(() => stripe.transfers.map((t) => t.amount), { timeout: 20_000 }).toEqual([500]);
      // Opened again later, the page says where the reward stands.
      await page.reload();
      await result.and(page.locator('[data-state="paying"]')).waitFor({ timeout: 20_000 });
      // Another tab (or device) does not hold the code: it says so in general terms.
      const elsewhere = await browser!.newPage();
      await elsewhere.goto(`${server.url}/?claimed=${session!.id}`);
      await elsewhere.getByTestId("claim-result").and(elsewhere.locator('[data-state="unknown"]')).waitFor();

      // The customer can read, then delete, what they said, with their data code.
      const mine = `${server.url}/api/customer/sessions/${session!.id}`;
      const read = await fetch(mine, { headers: { "x-parley-data-code": dataCode } });
      expect(read.status).toBe(200);
      expect(JSON.stringify(await read.json())).toContain(finalsShown.find(Boolean)!.split(" ")[0]!);
      expect((await fetch(mine, { headers: { "x-parley-data-code": "0000-0000-0000" } })).status).toBe(401);
      expect((await fetch(mine, { method: "DELETE", headers: { "x-parley-data-code": dataCode } })).status).toBe(200);
      const [{ count }] = (await sql`
        select count(*)::int as count from transcript_segments where session_id = ${session!.id}`) as unknown as [
        { count: number },
      ];
      expect(count).toBe(0);
    } finally {
      await sql.end({ timeout: 5 });
    }
  }, 120_000);
});
