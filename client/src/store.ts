// The store the page's link names (?store=<code>, from the store's QR code),
// looked up before anything else (GET /api/stores/:code): a link that names
// no store says so at once, before the microphone is asked for.

/** What the node tells anyone of a store: its code, its name, the language its customers speak in. */
export interface PublicStore {
  code: string;
  name: string;
  /** BCP 47: sv-SE, en-US. */
  language: string;
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
    return {
      kind: "found",
      store: { code: store.code, name: store.name, language: typeof store.language === "string" ? store.language : "" },
    };
  } catch {
    return { kind: "unreadable" };
  }
}
