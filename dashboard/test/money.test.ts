// Amounts arrive in the currency's minor units, as Stripe counts them: öre
// and cents (two digits), none for yen, three for dinars. The wall shows them
// as the customer was paid.
import { beforeAll, describe, expect, it, vi } from "vitest";

let formatMoney: typeof import("../src/ui.ts").formatMoney;
beforeAll(async () => {
  // ui.ts picks its language from the page's address and the browser's.
  vi.stubGlobal("location", { search: "?lang=en" });
  vi.stubGlobal("navigator", { language: "en" });
  ({ formatMoney } = await import("../src/ui.ts"));
});

const digits = (text: string) => text.replace(/[^\d.,]/gu, "");

describe("the wall's amounts", () => {
  it("count the minor units each currency has", () => {
    expect(digits(formatMoney(1250, "SEK"))).toBe("12.50");
    expect(digits(formatMoney(1250n, "EUR"))).toBe("12.50");
    expect(digits(formatMoney(500, "JPY"))).toBe("500");
    expect(digits(formatMoney(1234, "BHD"))).toBe("1.234");
  });
});
