// Screenshots of the business wall and the admin monitor for the README, at
// laptop and TV size, from a real node with real conversations: WebRTC
// customers (werift) speak feedback synthesised by flite through mediasoup
// and the pocketsphinx worker; some finish (one of them with a receipt
// already used, which records flags), two are still talking when the
// pictures are taken. The node runs on a fresh embedded database; the admin
// signs in through the login form. Writes docs/*.png.
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

const FEEDBACK: { store: string; text: string; finish: boolean; receipt?: string }[] = [
  {
    store: "centrum",
    text: "The coffee was great and the barista was really friendly. I love the new croissants.",
    finish: true,
    receipt: "K-1001",
  },
  {
    store: "sodermalm",
    text: "The bathroom was dirty and the floor was sticky. Please clean the toilets more often.",
    finish: true,
    receipt: "K-1002",
  },
  {
    store: "centrum",
    text: "I waited fifteen minutes in the queue and the card reader did not work. The staff was rude.",
    finish: true,
    receipt: "K-1001", // a receipt that already gave feedback: records flags it
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
    INTERNAL_PORT: "0",
    MEDIASOUP_WORKERS: "1",
    // A fresh embedded database (with its demo logins), not the developer's .data/pglite.
    PARLEY_DATA_DIR: path.join(work, "pglite"),
    MAX_TURNS: "10",
    END_SILENCE_MS: "120000",
    LOG_LEVEL: "warn",
  });
  const server = await ParleyServer.create({ config, logger: pino({ level: "warn" }) });
  const browser = await launchChromium({ grantMicrophone: false });
  try {
    const kafeSol = await addCafe(server);
    const owner = server.dashboardTokens.issue(
      { userId: crypto.randomUUID(), role: "owner", businessId: kafeSol },
      3_600_000,
    );
    const finished = FEEDBACK.filter((f) => f.finish);
    const live = FEEDBACK.filter((f) => !f.finish);
    // Finished conversations first: the ticker, tiles and trends have something to show.
    for (const [i, f] of finished.entries()) {
      const customer = await WeriftCustomer.connect(
        server,
        f.store,
        undefined,
        f.receipt ? { receipt: f.receipt } : {},
      );
      await customer.play(speech(f.text, i));
      await customer.socket.request({ case: "endSession", value: {} });
      await customer.close();
      await server.records.flush(); // stored, and its reward decided, before the next begins
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
    // The admin signs in through the form and lands on the monitor.
    const demo = server.records.demo!;
    const signin = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await signin.goto(`${base}/?lang=en`);
    await signin.getByTestId("email").fill(demo.admin.email);
    await signin.getByTestId("password").fill(demo.admin.password);
    await signin.screenshot({ path: path.join(docs, "signin.png"), clip: { x: 420, y: 60, width: 600, height: 560 } });
    console.log("docs/signin.png");
    await signin.getByTestId("signin-submit").click();
    await signin.locator('[data-testid="session-row"]').first().waitFor({ timeout: 20_000 });
    await signin.waitForTimeout(4_000);
    await signin.screenshot({ path: path.join(docs, "monitor-laptop.png") });
    console.log("docs/monitor-laptop.png");
    const monitor = signin;
    await monitor.setViewportSize({ width: 1920, height: 1080 });
    await monitor.waitForTimeout(1_500);
    await monitor.screenshot({ path: path.join(docs, "monitor-tv.png") });
    console.log("docs/monitor-tv.png");
    const drill = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await drill.goto(`${base}/?lang=sv#token=${owner}`);
    await drill.locator('[data-status="flagged"] [data-testid="open"]').first().click();
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

/** Kafé Sol, a business with three stores, as an admin onboards it in the records database; its id. */
async function addCafe(server: ParleyServer): Promise<string> {
  const sql = server.records.sql;
  const [business] = await sql<{ id: string }[]>`
    insert into businesses (id, name) values (gen_random_uuid(), 'Kafé Sol') returning id`;
  for (const [code, name] of [
    ["centrum", "Centrum"],
    ["sodermalm", "Södermalm"],
    ["kungsholmen", "Kungsholmen"],
  ] as const)
    await sql`
      insert into stores (id, business_id, code, name, language, reward_policy)
      select gen_random_uuid(), ${business!.id}, ${code}, ${name}, 'en-US', reward_policy from stores where code = 'demo'`;
  return business!.id;
}

await main();
