// A reward arrives in the currency's minor units, as Stripe counts them:
// öre and cents (two digits), none for yen, three for dinars. The app shows
// the customer what they will be paid.
import { beforeAll, describe, expect, it, vi } from "vitest";

let formatReward: typeof import("../src/locale.ts").formatReward;
beforeAll(async () => {
  // locale.ts picks its language from the page's address and the browser's, and names the page.
  vi.stubGlobal("location", { search: "?lang=en", href: "http://localhost/?lang=en" });
  vi.stubGlobal("navigator", { language: "en" });
  vi.stubGlobal("document", { documentElement: {}, title: "" });
  ({ formatReward } = await import("../src/locale.ts"));
});

const digits = (text: string) => text.replace(/[^\d.,]/gu, "");

describe("the app's reward amounts", () => {
  it("count the minor units each currency has", () => {
    expect(digits(formatReward(2000, "SEK"))).toBe("20.00");
    expect(digits(formatReward(500, "JPY"))).toBe("500");
    expect(digits(formatReward(1234, "BHD"))).toBe("1.234");
  });
});
