// Screenshots of the business wall and the admin monitor for the README, at
// laptop and TV size, from a real node with real conversations: WebRTC
// customers (werift) speak feedback synthesised by flite through mediasoup
// and the pocketsphinx worker; some finish, two are still talking when the
// pictures are taken. Writes docs/*.png.
//
//   unshare -n bash -c 'ip link set lo up && pnpm --filter @parley/signaling exec tsx scripts/dashboard-screenshots.ts'
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import pino from "pino";
import { loadConfig, REPO_ROOT } from "../src/config.ts";
import { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "../test/browser.ts";

const work = mkdtempSync(path.join(tmpdir(), "parley-shots-"));
const docs = path.join(REPO_ROOT, "docs");
mkdirSync(docs, { recursive: true });

const FEEDBACK: { store: string; text: string; finish: boolean }[] = [
  {
    store: "centrum",
    text: "The coffee was great and the barista was really friendly. I love the new croissants.",
    finish: true,
  },
  {
    store: "sodermalm",
    text: "The bathroom was dirty and the floor was sticky. Please clean the toilets more often.",
    finish: true,
  },
  {
    store: "centrum",
    text: "I waited fifteen minutes in the queue and the card reader did not work. The staff was rude.",
    finish: true,
  },
  {
    store: "kungsholmen",
    text: "Everything was fresh and the prices are fair. The music was a bit loud though.",
    finish: false,
  },
  {
    store: "sodermalm",
    text: "My sandwich was cold and the milk for my latte was sour. I want to talk to the manager about it.",
    finish: false,
  },
];

/** The text spoken by flite; `times` over, with pauses, for a customer who keeps talking. */
function speech(text: string, i: number, times = 1): Buffer[] {
  const raw = path.join(work, `f${i}.wav`);
  const wav = path.join(work, `f${i}-16k.wav`);
  execFileSync("flite", ["-voice", "slt", "-t", text, "-o", raw]);
  execFileSync("sox", [raw, "-r", "16000", "-c", "1", wav, "pad", "1", "2", "repeat", String(times - 1)]);
  return opusPacketsFromFile(wav);
}

async function main(): Promise<void> {
  const config = loadConfig({
    ...process.env,
    HOST: "127.0.0.1",
    PORT: "0",
    MEDIASOUP_WORKERS: "1",
    STORE_CODES: "centrum,sodermalm,kungsholmen",
    STORE_BUSINESS_ID: "kafe-sol",
    MAX_TURNS: "10",
    END_SILENCE_MS: "120000",
    WALL_DEV_LOGIN: "0",
    LOG_LEVEL: "warn",
  });
  const server = await ParleyServer.create({ config, logger: pino({ level: "warn" }) });
  const browser = await launchChromium({ grantMicrophone: false });
  try {
    const owner = server.dashboardTokens.issue({ userId: "anna", role: "owner", businessId: "kafe-sol" }, 3_600_000);
    const admin = server.dashboardTokens.issue({ userId: "ops", role: "admin" }, 3_600_000);
    const finished = FEEDBACK.filter((f) => f.finish);
    const live = FEEDBACK.filter((f) => !f.finish);
    // Finished conversations first: the ticker, tiles and trends have something to show.
    for (const [i, f] of finished.entries()) {
      const customer = await WeriftCustomer.connect(server, f.store);
      await customer.play(speech(f.text, i));
      await customer.socket.request({ case: "endSession", value: {} });
      await customer.close();
    }
    const customers = await Promise.all(live.map((f) => WeriftCustomer.connect(server, f.store)));
    const playing = customers.map((c, i) => c.play(speech(live[i]!.text, 10 + i, 5)));

    const shoot = async (url: string, file: string, size: { width: number; height: number }, ready: string) => {
      const page = await browser.newPage({ viewport: size });
      await page.goto(url);
      await page.locator(ready).first().waitFor({ timeout: 20_000 });
      await page.waitForTimeout(4_000); // let live transcripts and scores arrive
      await page.screenshot({ path: path.join(docs, file) });
      console.log(`docs/${file}`);
      return page;
    };
    const base = `${server.url}/dashboard`;
    // Each page opens while both customers are still talking.
    await shoot(`${base}/#token=${owner}`, "wall-laptop.png", { width: 1440, height: 900 }, '[data-status="live"]');
    await shoot(
      `${base}/?kiosk=1#token=${owner}`,
      "wall-tv.png",
      { width: 1920, height: 1080 },
      '[data-status="live"]',
    );
    const monitor = await shoot(
      `${base}/monitor#token=${admin}`,
      "monitor-laptop.png",
      { width: 1440, height: 900 },
      '[data-testid="session-row"]',
    );
    await monitor.setViewportSize({ width: 1920, height: 1080 });
    await monitor.waitForTimeout(1_500);
    await monitor.screenshot({ path: path.join(docs, "monitor-tv.png") });
    console.log("docs/monitor-tv.png");
    const drill = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await drill.goto(`${base}/?lang=sv#token=${owner}`);
    await drill.locator('[data-status="ended"] [data-testid="open"]').first().click();
    await drill.locator('[data-testid="drill-transcript"] span').first().waitFor();
    await drill.waitForTimeout(1_000);
    await drill.screenshot({ path: path.join(docs, "wall-drilldown-sv.png") });
    console.log("docs/wall-drilldown-sv.png");
    await Promise.all(playing);
    for (const c of customers) await c.close();
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
