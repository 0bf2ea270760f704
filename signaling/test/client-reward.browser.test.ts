// The reward on the end screen when the node's RewardUpdate does not reach the
// app (a slow decision, the socket gone by then, the session ended during a
// rejoin): the app asks the records API with the data code, and shows the
// reward once records decided it. This node has no Stripe (as `pnpm start`):
// instead of "Get paid", which would be refused for good, the app says the
// reward is kept and not paid out here (records.browser.test.ts claims one
// with Stripe). From the end screen the customer opens "Your data", and
// deletes it, giving up the unclaimed reward only once told so.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type LiveEvent, RewardStatus } from "@parley/proto/live";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import { payEveryConversation, spokenFeedback, untilSpoken } from "./rewardedFeedback.ts";

let server: ParleyServer;
let browser: Browser | undefined;
const work = mkdtempSync(path.join(tmpdir(), "parley-client-reward-"));

beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("the reward on the end screen without the node's RewardUpdate", () => {
  it("is read from the records once they decided it, and says it is not paid out here, with no claim button", async () => {
    await payEveryConversation(server);
    const { wav, seconds } = spokenFeedback(work);

    browser = await launchChromium({ microphoneWav: wav });
    const page = await browser.newPage();
    await page.clock.install(); // runs as usual until the test moves it past the app's wait
    await page.goto(`${server.url}/?store=demo&audio=raw&lang=en`);
    await page.getByTestId("start").click();
    await page.getByTestId("finish").waitFor({ timeout: 15_000 });
    const spoken = untilSpoken(seconds);
    const session = [...server.sessions.all()].at(-1)!;
    // The node decides the reward but its RewardUpdate never reaches the app.
    const dropped: LiveEvent[] = [];
    const publish = session.publishEvent;
    (session as unknown as { publishEvent: (event: LiveEvent) => void }).publishEvent = (event) => {
      if (event.kind.case === "reward") dropped.push(event);
      else publish(event);
    };
    await page.locator('[data-final="1"]').first().waitFor({ timeout: 30_000 });
    await spoken();
    await page.getByTestId("finish").click();
    await page.getByTestId("thanks").waitFor({ timeout: 30_000 });
    await expect.poll(() => dropped.length, { timeout: 20_000 }).toBe(1);
    // The app's wait for a RewardUpdate on the socket (REWARD_WAIT_MS in client/src/conversationEnd.ts)
    // passes on the page's clock: none will come.
    await page.clock.fastForward(10_000);

    // The node's own update said so too, had it arrived: granted, and not payable on this node.
    const update = dropped[0]!.kind;
    expect(update.case === "reward" && update.value).toMatchObject({
      status: RewardStatus.GRANTED,
      amountMinor: 500,
      payoutsUnavailable: true,
    });

    // The records have it: the end screen shows it instead of "being calculated" for good.
    const reward = page.getByTestId("reward");
    await reward.waitFor({ timeout: 40_000 });
    expect(await reward.getAttribute("data-amount-minor")).toBe("500");
    expect(await reward.textContent()).toMatch(/You earned/);
    // No payouts on this node: no "Get paid" (its claim would be refused for good), but what becomes of it.
    const kept = page.getByTestId("reward-unpayable");
    await kept.waitFor({ timeout: 5_000 });
    expect(await kept.textContent()).toBe(
      "Payouts are not set up on this service, so this reward cannot be paid out here. It stays recorded with your conversation.",
    );
    expect(await page.getByTestId("claim").count()).toBe(0);
    expect(await page.getByTestId("reward-pending").count()).toBe(0);
    expect(await page.getByTestId("data-code").textContent()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    await page.getByTestId("language").click();
    expect(await kept.textContent()).toMatch(/^Utbetalningar är inte inställda/);

    // "See or delete your data": a page of its own (in the language chosen), opened with the code.
    const [mine] = await Promise.all([page.context().waitForEvent("page"), page.getByTestId("data-link").click()]);
    await mine.getByTestId("data-kept").waitFor({ timeout: 15_000 });
    expect(new URL(mine.url()).hash).toBe(""); // the code is out of the address at once
    const stored = await server.records.sql<{ text: string }[]>`
      select text from transcript_segments where session_id = ${session.id} order by start_ms, segment_id`;
    expect(stored.length).toBeGreaterThan(0);
    expect(await mine.getByTestId("data-transcript").locator("li").allTextContents()).toEqual(
      stored.map((r) => r.text),
    );
    expect(await mine.getByTestId("data-reward").textContent()).toMatch(/inte hämtad/);
    // Deleting asks first, then says that the unclaimed reward would be given up, and only then deletes.
    await mine.getByTestId("data-delete").click();
    expect(await mine.getByTestId("data-confirm").getAttribute("data-reward")).toBe("none");
    await mine.getByTestId("data-delete-confirm").click();
    await mine.locator('[data-testid="data-confirm"][data-reward="unclaimed"]').waitFor({ timeout: 15_000 });
    expect(await mine.getByTestId("data-confirm").textContent()).toMatch(/5,00/);
    const segments = async () =>
      (await server.records.sql`select 1 from transcript_segments where session_id = ${session.id}`).length;
    expect(await segments()).toBeGreaterThan(0);
    await mine.getByTestId("data-delete-confirm").click();
    await mine.getByTestId("data-deleted").waitFor({ timeout: 15_000 });
    expect(await segments()).toBe(0);
    const [forfeited] = await server.records.sql`select status from rewards where session_id = ${session.id}`;
    expect(forfeited!.status).toBe("forfeited");
  }, 150_000);
});
