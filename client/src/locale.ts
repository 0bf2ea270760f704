// The app's language (switchable, kept in the URL) and t().
import { createSignal } from "solid-js";
import { type Language, LOCALES, type MessageKey, pickLanguage, translate } from "./i18n.ts";

const [language, setLanguage] = createSignal<Language>(pickLanguage(location.search, navigator.language));

/** The app's language now: a signal, read where shown. */
export { language };

/** The page's language and title (read by screen readers and shown on the browser's tab). */
function showLanguage(lang: Language): void {
  document.documentElement.lang = lang;
  document.title = translate(lang, "pageTitle");
}
showLanguage(language());

export const t = (key: MessageKey, params?: Record<string, string | number>) => translate(language(), key, params);

/** An amount in the currency's minor units (öre; yen have none, dinars three), as Stripe counts them. */
export function formatReward(minor: number, currency: string): string {
  const format = new Intl.NumberFormat(LOCALES[language()], { style: "currency", currency: currency || "SEK" });
  return format.format(minor / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

export function switchLanguage(): void {
  const next = language() === "sv" ? "en" : "sv";
  setLanguage(next);
  showLanguage(next);
  const url = new URL(location.href);
  url.searchParams.set("lang", next);
  history.replaceState(null, "", url);
}

/** A language's name (sv-SE: "Swedish", "svenska") in the app's language; "this store's language" if it has none. */
export function languageName(code: string): string {
  const base = code.split("-")[0] ?? "";
  try {
    const name = base ? new Intl.DisplayNames([LOCALES[language()]], { type: "language" }).of(base) : undefined;
    if (name && name.toLowerCase() !== base.toLowerCase()) return name;
  } catch {
    /* not a language tag */
  }
  return t("storeLanguage");
}
