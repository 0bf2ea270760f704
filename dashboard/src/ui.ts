// What every view shares: the language (a signal, switchable), t(), and
// number, money and duration formats in the viewer's locale.
import { createSignal } from "solid-js";
import {
  type Language,
  LOCALES,
  type MessageKey,
  pickLanguage,
  rewardReasonLabel,
  ruleLabel,
  topicLabel,
  translate,
} from "./i18n.ts";

const [language, setLanguage] = createSignal<Language>(pickLanguage(location.search, navigator.language));

export { language, setLanguage };

export const t = (key: MessageKey, params?: Record<string, string | number>) => translate(language(), key, params);
export const topic = (key: string) => topicLabel(language(), key);
export const rule = (key: string) => ruleLabel(language(), key);
export const rewardReason = (key: string) => rewardReasonLabel(language(), key);

export function switchLanguage(): void {
  const next = language() === "sv" ? "en" : "sv";
  setLanguage(next);
  document.documentElement.lang = next;
  const url = new URL(location.href);
  url.searchParams.set("lang", next);
  history.replaceState(null, "", url);
}

export const formatNumber = (n: number, digits = 0) =>
  new Intl.NumberFormat(LOCALES[language()], { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(
    n,
  );

/** An amount in the currency's minor units (öre; yen have none, dinars three), as Stripe counts them. */
export function formatMoney(minor: number | bigint, currency: string): string {
  const format = new Intl.NumberFormat(LOCALES[language()], { style: "currency", currency: currency || "SEK" });
  return format.format(Number(minor) / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
}

export const formatTime = (ms: number) =>
  new Intl.DateTimeFormat(LOCALES[language()], { hour: "2-digit", minute: "2-digit" }).format(ms);

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A clock that ticks every second (durations, "last hour" filters). */
const [now, setNow] = createSignal(Date.now());
setInterval(() => setNow(Date.now()), 1000);

export { now };

/** The node's clock ahead of this browser's (a kiosk's clock may be off): events carry the node's times. */
const [serverOffsetMs, setServerOffsetMs] = createSignal(0);

/** The node's time now, by the same tick as now(). */
export const serverNow = () => now() + serverOffsetMs();

/** The node's time this instant (not by the tick): for timers. */
export const serverClock = () => Date.now() + serverOffsetMs();

/** Takes the node's time from a snapshot (serverTimeMs; 0 from a node that does not send it). */
export function setServerTime(serverTimeMs: number): void {
  if (serverTimeMs > 0) setServerOffsetMs(serverTimeMs - Date.now());
}
