// The customer app's words that depend on the node: the consent screen states
// the node's own retention (GET /api/stores/:code) in either language, and the
// consent version stored with a session names the text shown; a reward budget
// that is used up is the business's, not said to be this store's.
import { describe, expect, it } from "vitest";
import { consentVersion, formatDays, formatHours, howLongText, type Language, translate } from "../src/i18n.ts";

describe("the consent screen's retention", () => {
  it("says days as years, months or days, in English and Swedish", () => {
    const cases: [number, string, string][] = [
      [730, "2 years", "2 år"],
      [365, "1 year", "1 år"],
      [1095, "3 years", "3 år"],
      [180, "6 months", "6 månader"],
      [90, "3 months", "3 månader"],
      [60, "2 months", "2 månader"],
      [30, "30 days", "30 dagar"],
      [45, "45 days", "45 dagar"],
      [400, "400 days", "400 dagar"],
      [1, "1 day", "1 dag"],
    ];
    for (const [days, en, sv] of cases) {
      expect(formatDays("en", days), `${days}`).toBe(en);
      expect(formatDays("sv", days), `${days}`).toBe(sv);
    }
  });

  it("says hours as hours, whole days from two days as days", () => {
    const cases: [number, string, string][] = [
      [24, "24 hours", "24 timmar"],
      [1, "1 hour", "1 timme"],
      [36, "36 hours", "36 timmar"],
      [48, "2 days", "2 dagar"],
      [72, "3 days", "3 dagar"],
      [50, "50 hours", "50 timmar"],
    ];
    for (const [hours, en, sv] of cases) {
      expect(formatHours("en", hours), `${hours}`).toBe(en);
      expect(formatHours("sv", hours), `${hours}`).toBe(sv);
    }
  });

  it("states the node's retention, not fixed figures", () => {
    expect(howLongText("en", { transcriptDays: 730, voiceDataHours: 24 })).toBe(
      "the text and its score for up to 2 years; the sound fingerprint for 24 hours.",
    );
    expect(howLongText("sv", { transcriptDays: 730, voiceDataHours: 24 })).toBe(
      "texten och dess betyg i upp till 2 år; ljudets fingeravtryck i 24 timmar.",
    );
    expect(howLongText("en", { transcriptDays: 30, voiceDataHours: 1 })).toBe(
      "the text and its score for up to 30 days; the sound fingerprint for 1 hour.",
    );
    expect(howLongText("sv", { transcriptDays: 30, voiceDataHours: 1 })).toBe(
      "texten och dess betyg i upp till 30 dagar; ljudets fingeravtryck i 1 timme.",
    );
    // A node that could not say: no figures at all, rather than figures that may be wrong.
    for (const language of ["en", "sv"] as Language[]) {
      const unknown = howLongText(language, undefined);
      expect(unknown).not.toMatch(/\d|\{/);
      expect(unknown).toBe(translate(language, "consent.howLongUnknown"));
    }
  });

  it("stores a consent version that names the text shown, retention included, within 64 characters", () => {
    const usual = consentVersion({ transcriptDays: 730, voiceDataHours: 24 });
    expect(usual).toBe("2026-11-v2;d730;h24");
    expect(consentVersion({ transcriptDays: 30, voiceDataHours: 1 })).toBe("2026-11-v2;d30;h1");
    expect(consentVersion(undefined)).toBe("2026-11-v2;retention-unknown");
    const versions = new Set([
      usual,
      consentVersion({ transcriptDays: 730, voiceDataHours: 1 }),
      consentVersion({ transcriptDays: 30, voiceDataHours: 24 }),
      consentVersion(undefined),
    ]);
    expect(versions.size).toBe(4);
    const longest = consentVersion({
      transcriptDays: Number.MAX_SAFE_INTEGER,
      voiceDataHours: Number.MAX_SAFE_INTEGER,
    });
    expect(longest.length).toBeLessThanOrEqual(64);
  });

  it("says that feedback the store approves may be shown on a screen in the store", () => {
    expect(translate("en", "consent.screen")).toMatch(/approves.*shown on a screen in the store/);
    expect(translate("sv", "consent.screen")).toMatch(/godkänner.*visas på en skärm i butiken/);
  });
});

describe("the reward budget's words", () => {
  it("do not say the budget used up was this store's: it is the business's, all its stores together", () => {
    expect(translate("en", "reward.budgetUsed")).toBe("Today's reward budget is used up. Thank you all the same!");
    expect(translate("sv", "reward.budgetUsed")).toBe("Dagens budget för belöningar är slut. Tack ändå!");
    expect(translate("en", "reward.budgetUsed")).not.toMatch(/store/i);
    expect(translate("sv", "reward.budgetUsed")).not.toMatch(/butik/i);
  });
});
