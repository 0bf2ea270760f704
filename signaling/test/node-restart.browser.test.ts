// The customer's app across a restart of its node: the socket drops, the app
// joins again by itself, the transcript so far is back (once), and the
// customer goes on talking.
import { type ChildProcess, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AsrWorkerProcess, freePort } from "@parley/inference-bridge";
import { librivoxRecordings } from "@parley/loadtest";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import type { Browser } from "playwright-core";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { launchChromium } from "./browser.ts";
import { startNodeProcess } from "./node-process.ts";

let asr: AsrWorkerProcess;
let databaseUrl: string;
let port: number;
let node: ChildProcess | undefined;
let browser: Browser | undefined;

const startNode = () => startNodeProcess({ port, databaseUrl, asrAddress: asr.address });

beforeAll(async () => {
  asr = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), workerId: "restart-browser" });
  databaseUrl = await createDatabaseAt(inject("parleyPostgresUrl"));
  port = await freePort();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  node?.kill("SIGKILL");
  await asr?.stop();
});

describe("the customer app across a restart of its node", () => {
  it("joins again by itself, gets the transcript so far back once, and goes on", async () => {
    // Two recordings with a pause between: the first is transcribed before the crash.
    const [a, b] = librivoxRecordings().sort((x, y) => y.seconds - x.seconds);
    const work = mkdtempSync(path.join(tmpdir(), "parley-restart-"));
    const wav = path.join(work, "talk.wav");
    execFileSync("sox", [a!.wav, path.join(work, "a.wav"), "pad", "1", "3"]);
    execFileSync("sox", [b!.wav, path.join(work, "b.wav"), "pad", "6", "3"]);
    execFileSync("sox", [path.join(work, "a.wav"), path.join(work, "b.wav"), wav]);
    node = await startNode();
    browser = await launchChromium({ microphoneWav: wav });
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/?store=demo&audio=raw&lang=en`);
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 15_000 });
    const firstFinal = page.locator('[data-final="1"]').first();
    await firstFinal.waitFor({ timeout: 30_000 });
    const finalsBefore = await page.$$eval('[data-final="1"]', (els) => els.map((e) => e.textContent?.trim() ?? ""));
    // What a crash may take is what the records queue had not written yet: kill once it has
    // (this database holds this one conversation).
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    try {
      const stored = async () => (await sql`select segment_id from transcript_segments`).length;
      await expect.poll(stored, { timeout: 15_000 }).toBeGreaterThanOrEqual(finalsBefore.length);
    } finally {
      await sql.end({ timeout: 5 });
    }

    node.kill("SIGKILL");
    await new Promise((r) => node!.once("exit", r));
    await page
      .getByTestId("notice")
      .filter({ hasText: /dropped/ })
      .waitFor({ timeout: 10_000 });
    node = await startNode();

    // The app joined again: no error, listening, the transcript so far shown once.
    await page.getByTestId("notice").waitFor({ state: "detached", timeout: 40_000 });
    expect(await page.getByTestId("problem").count()).toBe(0);
    await page.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    const finalsAfterRejoin = await page.$$eval('[data-final="1"]', (els) =>
      els.map((e) => e.textContent?.trim() ?? ""),
    );
    expect(finalsAfterRejoin.slice(0, finalsBefore.length)).toEqual(finalsBefore);
    // The customer goes on: a new final arrives after the restart.
    await expect
      .poll(async () => (await page.$$('[data-final="1"]')).length, { timeout: 40_000 })
      .toBeGreaterThan(finalsBefore.length);
  }, 150_000);
});
