// The store the page's link names (?store=<code>, from the store's QR code),
// looked up before anything else (GET /api/stores/:code): a link that names
// no store says so at once, before the microphone is asked for. The answer
// also says how long the node keeps what is said (the consent screen states it).
import type { Retention } from "./i18n.ts";

/**
 * What the node tells anyone of a store: its code, its name, the language its customers speak in,
 * and how long the node keeps a conversation's data (absent from a node that does not say).
 */
export interface PublicStore {
  code: string;
  name: string;
  /** BCP 47: sv-SE, en-US. */
  language: string;
  retention?: Retention;
}

const wholePositive = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n > 0;

/** The node's retention as it said it; undefined for anything else (the consent screen then names no figures). */
function retentionOf(value: unknown): Retention | undefined {
  const r = value as Partial<Retention> | undefined;
  if (!r || typeof r !== "object" || !wholePositive(r.transcriptDays) || !wholePositive(r.voiceDataHours))
    return undefined;
  return { transcriptDays: r.transcriptDays, voiceDataHours: r.voiceDataHours };
}

/**
 * found: the store, as the node knows it. unknown: no store has this code (or none can: a
 * malformed one). unreadable: the node could not say now (the network, its database away, too
 * many look-ups): the app goes on as before the look-up existed, and the start says what is wrong.
 */
export type StoreLookup = { kind: "found"; store: PublicStore } | { kind: "unknown" } | { kind: "unreadable" };

export async function lookUpStore(code: string, fetchImpl: typeof fetch = fetch): Promise<StoreLookup> {
  if (!code) return { kind: "unknown" };
  try {
    const res = await fetchImpl(`/api/stores/${encodeURIComponent(code)}`);
    if (res.status === 404 || res.status === 400) return { kind: "unknown" };
    if (!res.ok) return { kind: "unreadable" };
    const store = (await res.json()) as Partial<PublicStore>;
    if (typeof store.code !== "string" || typeof store.name !== "string") return { kind: "unreadable" };
    const retention = retentionOf(store.retention);
    return {
      kind: "found",
      store: {
        code: store.code,
        name: store.name,
        language: typeof store.language === "string" ? store.language : "",
        ...(retention ? { retention } : {}),
      },
    };
  } catch {
    return { kind: "unreadable" };
  }
}
