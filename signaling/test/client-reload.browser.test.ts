// The customer's page reloaded mid-conversation (a pull-to-refresh, a phone
// discarding the tab in the background): the app takes the same conversation
// up again within the node's rejoin grace, instead of showing the consent
// screen (a second session, the data code lost). The transcript so far comes
// back once, and the customer goes on talking.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LIBRIVOX_DIR, librivoxRecordings } from "@parley/loadtest";
import { EndReason } from "@parley/proto/live";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import { holdMicrophones } from "./pageSockets.ts";

let server: ParleyServer;
const browsers: Browser[] = [];

beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  await Promise.all(browsers.map((b) => b.close()));
  await server?.close();
});

/** The finals on screen, in order: segment id and text. */
const finals = (page: Page) =>
  page.$$eval('[data-final="1"]', (els) =>
    els.map((e) => ({ id: Number((e as HTMLElement).dataset.segment), text: e.textContent?.trim() ?? "" })),
  );

describe("the customer app reloaded mid-conversation", () => {
  it("takes the same conversation up again: the transcript so far once, then new words, and its data code", async () => {
    // Two recordings with a pause between: the first is transcribed before the reload.
    const [a, b] = librivoxRecordings().sort((x, y) => y.seconds - x.seconds);
    const work = mkdtempSync(path.join(tmpdir(), "parley-reload-"));
    const wav = path.join(work, "talk.wav");
    execFileSync("sox", [a!.wav, path.join(work, "a.wav"), "pad", "1", "3"]);
    execFileSync("sox", [b!.wav, path.join(work, "b.wav"), "pad", "4", "3"]);
    execFileSync("sox", [path.join(work, "a.wav"), path.join(work, "b.wav"), wav]);
    const browser = await launchChromium({ microphoneWav: wav });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.goto(`${server.url}/?store=demo&audio=raw&lang=en`);
    await page.getByTestId("start").click();
    await page.getByTestId("finish").waitFor({ timeout: 15_000 });
    await page.locator('[data-final="1"]').first().waitFor({ timeout: 30_000 });
    const before = await finals(page);
    expect(server.sessions.size).toBe(1);
    const [session] = server.sessions.all();

    await page.reload();

    // Taken up again, not started over: no consent screen, no second session, no error.
    await page.getByTestId("finish").waitFor({ timeout: 20_000 });
    await expect.poll(() => page.getByTestId("notice").count(), { timeout: 10_000 }).toBe(0);
    expect(await page.getByTestId("consent").count()).toBe(0);
    expect(await page.getByTestId("problem").count()).toBe(0);
    expect(server.sessions.size).toBe(1);
    expect(server.sessions.get(session!.id)).toBe(session);
    expect(session!.ended).toBe(false);
    // The transcript so far is back, each final once.
    await expect.poll(async () => (await finals(page)).slice(0, before.length), { timeout: 10_000 }).toEqual(before);
    const ids = (await finals(page)).map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
    // The customer goes on: a new final arrives after the reload, in the same conversation.
    const lastBefore = Math.max(...before.map((f) => f.id));
    await expect
      .poll(async () => (await finals(page)).filter((f) => f.id > lastBefore).length, { timeout: 40_000 })
      .toBeGreaterThan(0);

    // The end screen shows this conversation's data code (the records take it for this session).
    await page.getByTestId("finish").click();
    await page.getByTestId("thanks").waitFor({ timeout: 30_000 });
    const dataCode = (await page.getByTestId("data-code").locator("code").textContent())?.trim() ?? "";
    expect(dataCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const mine = await fetch(`${server.url}/api/customer/sessions/${session!.id}`, {
      headers: { "x-parley-data-code": dataCode },
    });
    expect(mine.status).toBe(200);
    expect(server.sessions.size).toBe(0);
    // Ended: a reload shows its end again, and does not take the conversation up again.
    await page.reload();
    await page.getByTestId("ended").waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("finish").count()).toBe(0);
    expect(await page.getByTestId("problem").count()).toBe(0);
    expect(server.sessions.size).toBe(0);
  }, 150_000);

  it("shows the end screen again after a reload on it, until the customer starts another conversation", async () => {
    const browser = await launchChromium({
      microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
    });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.goto(`${server.url}/?store=demo&lang=en`);
    await page.getByTestId("start").click();
    await page.getByTestId("finish").waitFor({ timeout: 15_000 });
    await page.locator('[data-final="1"]').first().waitFor({ timeout: 30_000 });
    const sessions = server.sessions.size;
    await page.getByTestId("finish").click();
    await page.getByTestId("ended").waitFor({ timeout: 20_000 });
    await page.getByTestId("reward").waitFor({ timeout: 30_000 });
    const shown = {
      score: await page.getByTestId("final-score").textContent(),
      code: await page.getByTestId("data-code").textContent(),
      reward: await page.getByTestId("reward").getAttribute("data-amount-minor"),
      finals: await finals(page),
    };
    expect(shown.code).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);

    await page.reload();

    // The same end, its reward read from the records: no consent screen, no new conversation.
    await page.getByTestId("ended").waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("consent").count()).toBe(0);
    expect(await page.getByTestId("final-score").textContent()).toBe(shown.score);
    expect(await page.getByTestId("data-code").textContent()).toBe(shown.code);
    expect(await finals(page)).toEqual(shown.finals);
    await page.getByTestId("reward").waitFor({ timeout: 30_000 });
    expect(await page.getByTestId("reward").getAttribute("data-amount-minor")).toBe(shown.reward);
    expect(server.sessions.size).toBeLessThanOrEqual(sessions);

    // Another visit's feedback starts from the consent screen, and a reload then stays there.
    await page.getByTestId("start-over").click();
    await page.getByTestId("consent").waitFor({ timeout: 10_000 });
    await page.reload();
    await page.getByTestId("consent").waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("ended").count()).toBe(0);
  }, 120_000);

  it("shows the data code and the reward of a conversation that ended before the page came back", async () => {
    const browser = await launchChromium({
      microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
    });
    browsers.push(browser);
    const page = await browser.newPage();
    await page.goto(`${server.url}/?store=demo&lang=en`);
    await page.getByTestId("start").click();
    await page.getByTestId("finish").waitFor({ timeout: 15_000 });
    const session = [...server.sessions.all()].at(-1)!;
    await page.locator("[data-segment]").first().waitFor({ timeout: 30_000 });
    // The tab goes away (a phone discards it in the background) for longer than the rejoin grace:
    // the node ends the conversation meanwhile.
    await page.goto("about:blank");
    await expect.poll(() => session.hasOwner).toBe(false);
    await server.sessions.end(session, EndReason.DISCONNECTED, true);
    await page.goto(`${server.url}/?store=demo&lang=en`);
    // Joining again is refused: the app says so, with the code to the customer's data and the reward decided.
    await page
      .getByTestId("problem")
      .filter({ hasText: /ended and cannot be continued/ })
      .waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("data-code").textContent()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    await page.getByTestId("reward").waitFor({ timeout: 30_000 });
    // Once: a reload now shows the consent screen alone.
    await page.reload();
    await page.getByTestId("consent").waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("problem").count()).toBe(0);
  }, 90_000);

  it("lets a duplicated tab take the conversation over: the first tab says so, keeps what it showed, and can take it back", async () => {
    const browser = await launchChromium({
      microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
    });
    browsers.push(browser);
    const context = await browser.newContext();
    const first = await context.newPage();
    await holdMicrophones(first);
    await first.goto(`${server.url}/?store=demo&lang=en`);
    await first.getByTestId("start").click();
    await first.getByTestId("finish").waitFor({ timeout: 15_000 });
    await first.locator('[data-final="1"]').first().waitFor({ timeout: 30_000 });
    const session = [...server.sessions.all()].at(-1)!;
    const sessions = server.sessions.size;

    // The customer duplicates the tab: the browser copies the tab's session storage into the new one,
    // which takes the conversation up as after a reload (the node hands it to the newer connection).
    const kept = await first.evaluate(() => JSON.stringify(sessionStorage));
    const second = await context.newPage();
    await second.addInitScript((copy: string) => {
      if (sessionStorage.getItem("test.duplicated")) return; // once, as the browser does
      for (const [key, value] of Object.entries(JSON.parse(copy) as Record<string, string>))
        sessionStorage.setItem(key, value);
      sessionStorage.setItem("test.duplicated", "1");
    }, kept);
    await second.goto(`${server.url}/?store=demo&lang=en`);
    await second.getByTestId("finish").waitFor({ timeout: 20_000 });

    // The first tab says where the conversation went, not that the connection was lost, and keeps
    // what it showed: the transcript, the data code. No button starts a second conversation.
    const takenOver = first.getByTestId("taken-over");
    await takenOver.waitFor({ timeout: 15_000 });
    expect(await takenOver.textContent()).toBe(
      "Your conversation continued in another tab or window. What you said here is kept.",
    );
    expect(await first.getByRole("status").filter({ hasText: "another tab" }).count()).toBe(1);
    expect((await finals(first)).length).toBeGreaterThan(0);
    expect(await first.getByTestId("data-code").textContent()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    expect(await first.getByTestId("problem").count()).toBe(0);
    expect(await first.getByTestId("start").count()).toBe(0);
    expect(await first.getByTestId("consent").count()).toBe(0);
    expect(await first.getByTestId("finish").count()).toBe(0);
    // It let go of its microphone; the conversation goes on in the other tab, the same one.
    await expect
      .poll(() =>
        first.evaluate(() => (window as unknown as { tracks: MediaStreamTrack[] }).tracks.map((t) => t.readyState)),
      )
      .toEqual(["ended"]);
    expect(server.sessions.size).toBe(sessions);
    expect(session.ended).toBe(false);

    // "Continue here" takes it back: the first tab listens again, the second says where it went.
    await first.getByTestId("continue-here").click();
    await first.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 20_000 });
    await first.getByTestId("finish").waitFor({ timeout: 20_000 });
    await second.getByTestId("taken-over").waitFor({ timeout: 15_000 });
    expect(server.sessions.size).toBe(sessions);
    expect(server.sessions.get(session.id)).toBe(session);
    expect(session.ended).toBe(false);
    await first.getByTestId("finish").click();
    await first.getByTestId("thanks").waitFor({ timeout: 30_000 });
    await expect.poll(() => session.ended).toBe(true);
  }, 120_000);
});
