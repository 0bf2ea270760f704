// A live conversation kept for this browser tab: an accidental reload (a
// pull-to-refresh, a phone discarding a tab in the background) takes it up
// again, as a dropped connection does, instead of starting over (a second
// session) and losing the data code. Forgotten when the conversation ends or
// fails; an ended one is kept apart for a while, so that a reload of the end
// screen shows it again (its score, summary, data code and reward).
import type { EndReason, FeedbackScore } from "@parley/proto/live";
export interface KeptConversation {
  /** The store whose page this is: another store's page in the same tab starts its own. */
  store: string;
  /** Where the socket joins, and with which token. */
  url: string;
  token: string;
  sessionId: string;
  /** The customer's code to their data (absent where the node keeps no records). */
  dataCode?: string;
  /** When the token expires (ms since the epoch): a join with it is refused after. */
  expiresAtMs: number;
}

/**
 * What the customer saw of the conversation so far, shown again at once after a reload: the node
 * sends a customer who joins again only what comes next (the transcript so far only after its own restart).
 */
export interface ShownSoFar {
  finals: { id: number; text: string }[];
  question?: { turn: number; text: string };
  score?: FeedbackScore;
}

const KEY = "parley.conversation";
const SHOWN_KEY = "parley.conversation.shown";

/** A token that expires this soon would be refused before the join gets through. */
const EXPIRY_MARGIN_MS = 5_000;

/** Keeps what joining the conversation again needs, for this tab. */
export function keepConversation(conversation: KeptConversation): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(conversation));
  } catch {
    /* storage disabled: a reload starts over, as before */
  }
}

/** Forgets the kept conversation (it ended, failed, or cannot be taken up again). */
export function forgetConversation(): void {
  try {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(SHOWN_KEY);
  } catch {
    /* storage disabled: nothing was kept */
  }
}

/** The conversation this tab kept for `store`, if its token is still good; an expired one is forgotten. */
export function keptConversation(store: string, now = Date.now()): KeptConversation | undefined {
  let kept: Partial<KeptConversation> | null;
  try {
    kept = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Partial<KeptConversation> | null;
  } catch {
    return undefined;
  }
  if (!kept || kept.store !== store) return undefined;
  const { url, token, sessionId, dataCode, expiresAtMs } = kept;
  const whole =
    typeof url === "string" &&
    typeof token === "string" &&
    typeof sessionId === "string" &&
    (dataCode === undefined || typeof dataCode === "string") &&
    typeof expiresAtMs === "number";
  if (!whole || expiresAtMs - EXPIRY_MARGIN_MS <= now) {
    forgetConversation();
    return undefined;
  }
  return { store, url, token, sessionId, ...(dataCode ? { dataCode } : {}), expiresAtMs };
}

/** Keeps what the customer saw so far, for this tab. */
export function keepShown(shown: ShownSoFar): void {
  try {
    sessionStorage.setItem(SHOWN_KEY, JSON.stringify(shown));
  } catch {
    /* storage disabled or full: after a reload the transcript starts from what is said next */
  }
}

/** What this tab kept of what the customer saw (nothing, if it kept nothing whole). */
export function shownSoFar(): ShownSoFar {
  let kept: Partial<ShownSoFar> | null;
  try {
    kept = JSON.parse(sessionStorage.getItem(SHOWN_KEY) ?? "null") as Partial<ShownSoFar> | null;
  } catch {
    return { finals: [] };
  }
  const finals = Array.isArray(kept?.finals)
    ? kept.finals.filter((f) => typeof f?.id === "number" && typeof f.text === "string")
    : [];
  const { question, score } = kept ?? {};
  return {
    finals: finals.map(({ id, text }) => ({ id, text })),
    ...(typeof question?.turn === "number" && typeof question.text === "string"
      ? { question: { turn: question.turn, text: question.text } }
      : {}),
    ...(typeof score?.score === "number" ? { score } : {}),
  };
}

/** A conversation that ended in this tab: what its end screen showed. */
export interface EndedConversation {
  store: string;
  sessionId: string;
  /** The customer's code to their data (absent where the node keeps no records). */
  dataCode?: string;
  reason: EndReason;
  summary: string;
  finalScore?: FeedbackScore;
  finals: { id: number; text: string }[];
  endedAtMs: number;
}

const ENDED_KEY = "parley.ended";

/**
 * How long a reload shows the end screen again. The reward is decided seconds after the end and
 * "Get paid" may take the customer to Stripe and back; after this, a reload starts afresh.
 */
export const ENDED_SHOWN_MS = 30 * 60_000;

/** Keeps the end screen of the conversation that just ended, for this tab. */
export function keepEnded(ended: EndedConversation): void {
  try {
    sessionStorage.setItem(ENDED_KEY, JSON.stringify(ended));
  } catch {
    /* storage disabled or full: a reload shows the consent screen, as before */
  }
}

/** Forgets the ended conversation (the customer starts another). */
export function forgetEnded(): void {
  try {
    sessionStorage.removeItem(ENDED_KEY);
  } catch {
    /* storage disabled: nothing was kept */
  }
}

/** The conversation that ended in this tab for `store`, while its end screen is still shown; an older one is forgotten. */
export function endedConversation(store: string, now = Date.now()): EndedConversation | undefined {
  let kept: Partial<EndedConversation> | null;
  try {
    kept = JSON.parse(sessionStorage.getItem(ENDED_KEY) ?? "null") as Partial<EndedConversation> | null;
  } catch {
    return undefined;
  }
  if (!kept || kept.store !== store) return undefined;
  const { sessionId, dataCode, reason, summary, finalScore, finals, endedAtMs } = kept;
  const whole =
    typeof sessionId === "string" &&
    (dataCode === undefined || typeof dataCode === "string") &&
    typeof reason === "number" &&
    typeof summary === "string" &&
    Array.isArray(finals) &&
    typeof endedAtMs === "number";
  if (!whole || now - endedAtMs > ENDED_SHOWN_MS || endedAtMs > now) {
    forgetEnded();
    return undefined;
  }
  return {
    store,
    sessionId,
    ...(dataCode ? { dataCode } : {}),
    reason,
    summary,
    ...(typeof finalScore?.score === "number" ? { finalScore } : {}),
    finals: finals
      .filter((f) => typeof f?.id === "number" && typeof f.text === "string")
      .map(({ id, text }) => ({ id, text })),
    endedAtMs,
  };
}
