// Swedish and English: the customer app and the dashboards follow the
// browser's language (the market is Sweden), and switch on request.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { demoBusiness, startServer } from "./harness.ts";

let server: ParleyServer;
let browser: Browser;

beforeAll(async () => {
  // In maintenance: the monitor says so (the customer app says it only when a conversation is refused).
  server = await startServer({ MAINTENANCE_MODE: "1" });
  browser = await launchChromium({ grantMicrophone: false });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("languages", () => {
  it("shows the customer app in Swedish to a Swedish browser, and in English on request", async () => {
    const page = await (await browser.newContext({ locale: "sv-SE" })).newPage();
    await page.goto(`${server.url}/?store=demo`);
    expect(await page.locator("h1").textContent()).toBe("Hur var ditt besök?");
    expect(await page.title()).toBe("Parley — berätta om ditt besök");
    expect(await page.getByTestId("start").textContent()).toBe("Jag godkänner, börja prata");
    await page.getByTestId("language").click();
    expect(await page.getByTestId("start").textContent()).toBe("I agree, start talking");
    expect(new URL(page.url()).searchParams.get("lang")).toBe("en");
    expect(await page.title()).toBe("Parley — tell us about your visit");
    await page.context().close();
  });

  it("shows the wall and the monitor in Swedish, the sign-in too", async () => {
    const context = await browser.newContext({ locale: "sv-SE" });
    const page = await context.newPage();
    await page.goto(`${server.url}/dashboard/`);
    expect(await page.getByTestId("signin").locator("h1").textContent()).toContain("Logga in");
    const owner = server.dashboardTokens.issue(
      { userId: "o", role: "owner", businessId: demoBusiness(server) },
      60_000,
    );
    await page.goto(`${server.url}/dashboard/?kiosk=0#token=${owner}`); // a new document: the token is read at load
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor();
    expect(await page.getByTestId("tile-live").textContent()).toContain("Pågår nu");
    expect(await page.getByTestId("ticker").textContent()).toContain("Inga samtal än");
    // The token left the address bar once read.
    expect(page.url()).not.toContain("token=");
    const admin = server.dashboardTokens.issue({ userId: "a", role: "admin" }, 60_000);
    await page.goto(`${server.url}/dashboard/monitor?lang=sv#token=${admin}`);
    await page.getByTestId("node").waitFor();
    expect(await page.getByTestId("media-workers").textContent()).toContain("Mediaarbetare");
    expect(await page.getByTestId("node-maintenance").textContent()).toBe("Underhåll: nya samtal nekas");
    expect(await page.getByTestId("node-draining").count()).toBe(0);
    await context.close();
  });
});
