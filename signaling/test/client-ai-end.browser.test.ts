// The AI ends the conversation (here: it asks no follow-up, so the
// customer's feedback is their last answer). The node ends the session
// itself; the app still shows its end screen, and the reward reaches it on
// its socket, which the node keeps open for it: the records API, which the
// app asks only when the socket brought nothing, is cut off here.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { EndReason } from "@parley/proto/live";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveTopic } from "../src/live/LiveBus.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import { payEveryConversation, spokenFeedback } from "./rewardedFeedback.ts";

let server: ParleyServer;
let browser: Browser | undefined;
const work = mkdtempSync(path.join(tmpdir(), "parley-client-ai-end-"));

beforeAll(async () => {
  server = await startServer({ MAX_TURNS: "0" });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("a conversation the AI ends", () => {
  it("shows the end screen and the reward from the socket while the node ends the session itself", async () => {
    await payEveryConversation(server);
    const { wav } = spokenFeedback(work);

    browser = await launchChromium({ microphoneWav: wav });
    const page = await browser.newPage();
    const askedRecords: string[] = [];
    await page.route("**/api/customer/sessions/*/reward", (route) => {
      askedRecords.push(route.request().url());
      return route.abort();
    });
    await page.goto(`${server.url}/?store=demo&audio=raw&lang=en`);
    await page.getByTestId("start").click();
    await page.getByTestId("finish").waitFor({ timeout: 15_000 });
    const session = [...server.sessions.all()].at(-1)!;
    const ends: EndReason[] = [];
    const unsubscribe = server.bus.subscribe(liveTopic.session(session.id), ({ envelope }) => {
      const kind = envelope.event?.kind;
      if (kind?.case === "conversationEnded") ends.push(kind.value.reason);
    });

    // The customer never taps "I'm done": the AI ends the conversation after their answer.
    await page.getByTestId("thanks").waitFor({ timeout: 60_000 });
    await expect.poll(() => server.sessions.get(session.id), { timeout: 30_000 }).toBeUndefined();
    expect(session.ended).toBe(true);
    expect(ends).toEqual([EndReason.MAX_TURNS]);
    expect(await page.getByTestId("final-score").textContent()).toMatch(/\d+/);
    expect(await page.getByTestId("data-code").textContent()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);

    const reward = page.getByTestId("reward");
    await reward.waitFor({ timeout: 40_000 });
    expect(await reward.getAttribute("data-amount-minor")).toBe("500");
    expect(askedRecords).toEqual([]); // it came on the socket
    expect(await page.getByTestId("problem").count()).toBe(0);
    expect(ends).toEqual([EndReason.MAX_TURNS]); // and no second end came after it
    unsubscribe();
  }, 150_000);
});
