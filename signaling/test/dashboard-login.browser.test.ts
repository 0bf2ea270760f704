// Signing in to the dashboards in real Chromium with records' logins: a wrong
// password is refused with a message (in English and Swedish), the demo
// owner lands on the business's wall, the admin on the monitor; the token is
// kept for the tab only. What goes wrong (a refused token, a node out of
// reach, an answer that is not the login's) is said in the viewer's
// language, and the form stays usable. On the wall, records' reward
// decisions and fraud flags show on the cards, in the drill-down and the tiles.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { demoBusiness, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";

let server: ParleyServer;
let browser: Browser;
let demo = { owner: { email: "", password: "" }, admin: { email: "", password: "" } };

beforeAll(async () => {
  server = await startServer();
  demo = server.records.demo!;
  browser = await launchChromium({ grantMicrophone: false });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByTestId("email").fill(email);
  await page.getByTestId("password").fill(password);
  await page.getByTestId("signin-submit").click();
}

/** A finished conversation of the demo store as this node's sessions publish it; records keeps it. */
async function conversation(text: string, score: number, receipt: string): Promise<string> {
  const c = new FakeConversation(server.bus, "demo", demoBusiness(server), server.config.nodeId);
  await server.records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "test" },
    deviceId: `browser-${receipt}`,
    ip: `10.3.0.${score}`,
    receipt,
  });
  c.start();
  c.segment(1, text, true);
  c.score(score - 10, { topics: ["service"], sentiment: 0.5, through: 1 });
  c.end({ score, topics: ["service"], sentiment: 0.5, relevance: 0.9 });
  return c.sessionId;
}

describe("signing in to the dashboards", () => {
  it("refuses a wrong password with a message, then takes the demo owner to the wall", async () => {
    const context = await browser.newContext({ locale: "en-GB" });
    const page = await context.newPage();
    await page.goto(`${server.url}/dashboard/`);
    await signIn(page, demo.owner.email, "not-the-password");
    await expect.poll(() => page.getByTestId("signin-error").textContent()).toBe("Wrong e-mail or password.");
    expect(await page.getByTestId("password").inputValue()).toBe(""); // cleared for another try
    expect(await page.getByTestId("wall").count()).toBe(0);

    await signIn(page, demo.owner.email, demo.owner.password);
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe("/dashboard/");
    expect(await page.getByTestId("tile-live").textContent()).toContain("Live now");
    expect(await page.getByTestId("nav").count()).toBe(0); // the monitor is for admins
    // Kept for this tab (a reload stays signed in), never in localStorage.
    expect(await page.evaluate(() => [sessionStorage.length, localStorage.length])).toEqual([1, 0]);
    await page.reload();
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
    // Signing out leads back to the form.
    await page.getByTestId("signout").click();
    await page.getByTestId("signin").waitFor();
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await context.close();
  });

  it("takes an admin to the monitor, and a business owner who opened the monitor to the wall, in Swedish", async () => {
    const context = await browser.newContext({ locale: "sv-SE" });
    const page = await context.newPage();
    await page.goto(`${server.url}/dashboard/`);
    expect(await page.getByTestId("signin").locator("h1").textContent()).toContain("Logga in");
    await signIn(page, demo.admin.email, "fel");
    await expect.poll(() => page.getByTestId("signin-error").textContent()).toBe("Fel e-post eller lösenord.");
    await signIn(page, demo.admin.email, demo.admin.password);
    await page.getByTestId("node").waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe("/dashboard/monitor");
    expect(await page.getByTestId("media-workers").textContent()).toContain("Mediaarbetare");
    await page.getByTestId("signout").click();
    await page.getByTestId("signin").waitFor();

    await page.goto(`${server.url}/dashboard/monitor`);
    await signIn(page, demo.owner.email, demo.owner.password);
    await page.getByTestId("wall").waitFor({ timeout: 15_000 });
    expect(new URL(page.url()).pathname).toBe("/dashboard/");
    expect(await page.getByTestId("tile-live").textContent()).toContain("Pågår nu");
    await context.close();
  });

  it("says in Swedish why signing in failed, never the node's or the browser's English, and never stays busy", async () => {
    const context = await browser.newContext({ locale: "sv-SE" });
    const page = await context.newPage();
    // A token the node refuses (expired, say): the form says so.
    await page.goto(`${server.url}/dashboard/#token=not-a-token`);
    const refused = page.getByTestId("signin").getByRole("alert");
    await refused.waitFor({ timeout: 15_000 });
    expect(await refused.textContent()).toBe("Inloggningen nekades: inloggningen har gått ut eller gäller inte längre");

    // The login's answers as a network or a proxy might give them.
    let answer: "unreachable" | "notJson" | "serverError" = "unreachable";
    await page.route("**/api/auth/login", (route) =>
      answer === "unreachable"
        ? route.abort("connectionrefused")
        : answer === "notJson"
          ? route.fulfill({ status: 200, contentType: "text/html", body: "<html><body>Gateway</body></html>" })
          : route.fulfill({ status: 500, contentType: "application/json", body: '{"error":"database is down"}' }),
    );
    const error = page.getByTestId("signin-error");
    await signIn(page, demo.owner.email, demo.owner.password);
    await expect
      .poll(() => error.textContent())
      .toBe("Inloggningen misslyckades: servern gick inte att nå, kontrollera nätverket");
    // A 200 that is not the login's JSON (a proxy's page): said, and the button works again.
    answer = "notJson";
    await signIn(page, demo.owner.email, demo.owner.password);
    await expect
      .poll(() => error.textContent())
      .toBe("Inloggningen misslyckades: serverns svar gick inte att läsa, försök igen");
    expect(await page.getByTestId("signin-submit").isEnabled()).toBe(true);
    answer = "serverError";
    await signIn(page, demo.owner.email, demo.owner.password);
    await expect
      .poll(() => error.textContent())
      .toBe("Inloggningen misslyckades: något gick fel på servern, försök igen");

    // The node itself still lets the owner in.
    await page.unroute("**/api/auth/login");
    await signIn(page, demo.owner.email, demo.owner.password);
    await page.getByTestId("wall").waitFor({ timeout: 15_000 });
    await context.close();
  });

  it("shows records' rewards and fraud flags on the signed-in owner's wall", async () => {
    const context = await browser.newContext({ locale: "en-GB" });
    const page = await context.newPage();
    await page.goto(`${server.url}/dashboard/?lang=en`);
    await signIn(page, demo.owner.email, demo.owner.password);
    await page.getByTestId("connection").filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });

    const paid = await conversation("the cinnamon buns were warm and the barista was quick", 82, "BR-1");
    await server.records.flush(); // the receipt's first conversation is stored before the second begins
    const again = await conversation("parking was full but the staff helped me carry the bags", 80, "br-1");
    const card = (id: string) => page.locator(`[data-testid="card"][data-session="${id}"]`);
    // The decision arrives live after the end: held for the customer to claim; the repeat is flagged.
    await card(paid).getByTestId("reward").filter({ hasText: "held until claimed" }).waitFor({ timeout: 20_000 });
    expect(await card(paid).getByTestId("reward").getAttribute("data-reward")).toBe("claimable");
    expect(await card(paid).getByTestId("reward").textContent()).toMatch(/SEK\s?20\.00/);
    await card(again).and(page.locator('[data-status="flagged"]')).waitFor({ timeout: 20_000 });
    expect(await card(again).getByTestId("reward").textContent()).toBe("Reward withheld");
    await page.getByTestId("alert").filter({ hasText: "the same receipt as an earlier conversation" }).waitFor();

    // The tiles count them: a reward granted today (nothing paid out yet: no Stripe here), one fraud flag.
    await expect.poll(() => page.getByTestId("tile-fraud").textContent(), { timeout: 15_000 }).toContain("1");
    expect(await page.getByTestId("tile-granted").textContent()).toMatch(/granted SEK\s?20\.00/);

    // The drill-down reads the flagged one back from the records.
    await card(again).getByTestId("open").click();
    await page.getByTestId("drill-flags").filter({ hasText: "the same receipt as an earlier conversation" }).waitFor();
    expect(await page.getByTestId("drill-reward").getAttribute("data-reward")).toBe("withheld");

    // A new page (a fresh snapshot from the history) shows the same.
    await page.reload();
    await card(again).and(page.locator('[data-status="flagged"]')).waitFor({ timeout: 15_000 });
    expect(await card(paid).getByTestId("reward").getAttribute("data-reward")).toBe("claimable");
    await context.close();
  }, 90_000);
});
