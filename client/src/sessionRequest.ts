// Asking the node for a new session (POST /api/sessions) once the customer has
// consented: its answer, or the refusal as an error that says what to tell
// the customer (busy for a while, no such store, its language not served, ...).
import { ConnectionLost } from "./connection.ts";
import { receipt, storeCode } from "./pageLink.ts";

/** The node refused a new session for now (no speech capacity, or too many attempts). */
export class BusyError extends Error {
  constructor(
    readonly retryAfterMs: number,
    /** The deployment is in maintenance (MAINTENANCE_MODE): said as such. */
    readonly maintenance = false,
  ) {
    super("busy");
  }
}

/** The node answered the new session with an error status other than busy. */
export class StartRefusedError extends Error {
  constructor(readonly status: number) {
    super(`POST /api/sessions: ${status}`);
  }
}

/** The node takes no conversation in the store's language (POST /api/sessions: 422, language_unsupported). */
export class LanguageUnsupportedError extends Error {
  constructor(readonly language: string) {
    super(`no speech worker takes ${language || "the store's language"}`);
  }
}

/** The node knows no store with the link's code (POST /api/sessions: 404). */
export class UnknownStoreError extends Error {}

/** The longest wait a busy node's hint may impose on the retry button. */
export const MAX_RETRY_WAIT_MS = 60_000;

/** A 429/503's Retry-After (seconds), in milliseconds; 0 without one. */
const retryAfterOf = (res: Response) => Math.min(Number(res.headers.get("retry-after")) * 1000 || 0, MAX_RETRY_WAIT_MS);

/** A random id kept on this device (no personal data): the server stores only a keyed hash of it, against abuse. */
function deviceId(): string | undefined {
  try {
    let id = localStorage.getItem("parley-device");
    if (!id) {
      id = crypto.randomUUID();
      localStorage.setItem("parley-device", id);
    }
    return id;
  } catch {
    return undefined; // storage disabled: no device id
  }
}

/** Which consent text the customer accepted (its retention figures with it): stored with the session. */
export interface Consent {
  given: true;
  version: string;
}

/** The node's new session: its token, and where its socket joins. */
export interface NewSession {
  token: string;
  sessionId: string;
  dataCode?: string;
  /** Present when the conversation was placed on another node. */
  wsUrl?: string;
  /** When the token expires (ISO 8601). */
  expiresAt?: string;
}

/** Asks the node for a session for the link's store; a refusal throws one of the errors above. */
export async function requestSession(consent: Consent): Promise<NewSession> {
  const res = await fetch("/api/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      storeCode,
      consent,
      deviceId: deviceId(),
      ...(receipt ? { receipt } : {}),
    }),
  }).catch(() => {
    throw new ConnectionLost("unreachable"); // the browser's own words ("Failed to fetch") are English
  });
  if (res.status === 503 || res.status === 429) {
    const refusal = (await res.json().catch(() => ({}))) as { reason?: string };
    throw new BusyError(retryAfterOf(res), refusal.reason === "maintenance");
  }
  if (res.status === 404) throw new UnknownStoreError(); // removed since the page looked it up
  if (res.status === 422) {
    const refusal = (await res.json().catch(() => ({}))) as { reason?: unknown; language?: unknown };
    if (refusal.reason === "language_unsupported")
      throw new LanguageUnsupportedError(typeof refusal.language === "string" ? refusal.language : "");
  }
  if (!res.ok) throw new StartRefusedError(res.status);
  return (await res.json()) as NewSession;
}
