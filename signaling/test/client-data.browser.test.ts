// "Your data" (/?data) in real Chromium on a real node: a customer who kept
// only the data code types it (as loosely as people copy codes), sees what is
// kept of their conversation, downloads a copy and deletes it; a wrong code, or
// the same code after the deletion, is told apart from a server that cannot be
// reached. The conversation is written straight into the records.
import { readFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { endedConversation } from "./endedConversation.ts";
import { startServer } from "./harness.ts";

let server: ParleyServer;
let browser: Browser;
beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const LINES = ["The croissant was stale this morning.", "Please bake a second batch before noon."];

/** An ended conversation at the demo store, no reward decided; its id and data code. */
async function kept(): Promise<{ sessionId: string; dataCode: string }> {
  const { sessionId, dataCode } = await endedConversation(server);
  const sql = server.records.sql;
  for (const [i, text] of LINES.entries())
    await sql`
      insert into transcript_segments (session_id, segment_id, seq, text, words, start_ms, end_ms, speech_final)
      values (${sessionId}, ${i + 1}, ${i + 1}, ${text}, '[]'::jsonb, ${i * 4000}, ${i * 4000 + 3000}, true)`;
  return { sessionId, dataCode };
}

async function typeCode(page: Page, code: string): Promise<void> {
  await page.getByTestId("data-code-input").fill(code);
  await page.getByTestId("data-open").click();
}

describe("a customer's own data, by the data code alone", () => {
  it("shows it, gives a copy, and deletes it once asked twice; the code then finds nothing", async () => {
    const { sessionId, dataCode } = await kept();
    const page = await browser.newPage({ acceptDownloads: true });
    await page.goto(`${server.url}/?data&lang=en`);

    await typeCode(page, "ZZZZ-ZZZZ-ZZZZ");
    await page.locator('[data-testid="data-problem"][data-kind="unknownCode"]').waitFor({ timeout: 15_000 });

    // As copied by hand: lower case, spaces instead of dashes.
    await typeCode(page, dataCode.toLowerCase().replace(/-/g, " "));
    await page.getByTestId("data-kept").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("data-problem").count()).toBe(0);
    expect(await page.getByTestId("data-transcript").locator("li").allTextContents()).toEqual(LINES);
    expect(await page.getByTestId("data-reward").count()).toBe(0); // none decided
    // How long it is kept: this node's settings (the harness's defaults), in words.
    expect(await page.getByTestId("data-retention").textContent()).toMatch(
      /up to 2 years, the sound fingerprint for 24 hours/,
    );

    const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("data-download").click()]);
    const copy = JSON.parse(readFileSync((await download.path())!, "utf8")) as {
      sessionId: string;
      transcript: { text: string }[];
    };
    expect(copy.sessionId).toBe(sessionId);
    expect(copy.transcript.map((t) => t.text)).toEqual(LINES);

    // Asked first; "keep" keeps.
    await page.getByTestId("data-delete").click();
    await page.getByTestId("data-keep").click();
    expect(await page.getByTestId("data-confirm").count()).toBe(0);
    const segments = async () =>
      (await server.records.sql`select 1 from transcript_segments where session_id = ${sessionId}`).length;
    expect(await segments()).toBe(2);

    await page.getByTestId("data-delete").click();
    await page.getByTestId("data-delete-confirm").click();
    await page.getByTestId("data-deleted").waitFor({ timeout: 15_000 });
    expect(await segments()).toBe(0);

    // The code went with the data.
    await page.goto(`${server.url}/?data&lang=en`);
    await typeCode(page, dataCode);
    await page.locator('[data-testid="data-problem"][data-kind="unknownCode"]').waitFor({ timeout: 15_000 });
    await page.close();
  }, 90_000);

  it("says the server cannot be reached, not that the code is wrong, when the records API is away", async () => {
    const { dataCode } = await kept();
    const page = await browser.newPage();
    await page.route("**/api/customer/lookup", (route) => route.abort("connectionrefused"));
    await page.goto(`${server.url}/?data&lang=en#${dataCode}`);
    await page.locator('[data-testid="data-problem"][data-kind="unreachable"]').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("data-code-input").inputValue()).toBe(dataCode); // kept to try again
    expect(new URL(page.url()).hash).toBe("");
    await page.close();
  }, 60_000);
});
