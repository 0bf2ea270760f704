// The customer's own data, read and deleted with the data code alone: the
// records API finds the session by the code (POST /api/customer/lookup), then
// the session's routes take the same code. Nothing here is kept by the app.
import type { CustomerAccess } from "./claim.ts";

/** What the records API keeps of one conversation, as it answers GET /api/customer/sessions/:id. */
export interface KeptConversation {
  sessionId: string;
  store: { code: string; name: string };
  startedAt: string | null;
  endedAt: string | null;
  transcript: { segmentId: number; text: string }[];
  finalScore: { score: number } | null;
  questions: { turn: number; text: string }[];
  /** payoutFailed: its last payout failed, it waits on new bank details (absent from older nodes). */
  reward: { amountMinor: number; currency: string; status: string; payoutFailed?: boolean } | null;
  retention: { transcriptAndScoresDays: number; voiceDataHours: number };
  /** Everything the API answered, for the customer's copy. */
  raw: unknown;
}

/** Why the data could not be opened or deleted (each is said to the customer in their words). */
export type DataProblem =
  | { kind: "unknownCode" }
  | { kind: "tooMany"; retryAfterS: number }
  | { kind: "stillGoing" }
  | { kind: "unreachable" };

export type Opened = { kind: "opened"; access: CustomerAccess; data: KeptConversation } | DataProblem;
export type Deleted =
  | { kind: "deleted" }
  | { kind: "rewardUnclaimed"; amountMinor: number; currency: string }
  | DataProblem;

const retryAfter = (res: Response) => Number(res.headers.get("retry-after")) || 60;

/** The problem a refusal means; undefined for an answer that is not one. */
function problemOf(res: Response): DataProblem | undefined {
  if (res.status === 404 || res.status === 401 || res.status === 400) return { kind: "unknownCode" };
  if (res.status === 429) return { kind: "tooMany", retryAfterS: retryAfter(res) };
  if (!res.ok) return { kind: "unreachable" };
  return undefined;
}

/** Finds and reads the conversation of a data code. */
export async function openData(dataCode: string): Promise<Opened> {
  try {
    const found = await fetch("/api/customer/lookup", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ dataCode }),
    });
    const notFound = problemOf(found);
    if (notFound) return notFound;
    const { sessionId } = (await found.json()) as { sessionId: string };
    const access = { sessionId, dataCode };
    const res = await fetch(`/api/customer/sessions/${encodeURIComponent(sessionId)}`, {
      headers: { "x-parley-data-code": dataCode },
    });
    const refused = problemOf(res);
    if (refused) return refused;
    const raw = (await res.json()) as Omit<KeptConversation, "raw">;
    return { kind: "opened", access, data: { ...raw, raw } };
  } catch {
    return { kind: "unreachable" };
  }
}

/**
 * Deletes the conversation's data. While its reward is unclaimed the API refuses until the
 * customer agrees to give it up (`forfeitReward`): the data code, which goes, is the key to a claim.
 */
export async function deleteData(access: CustomerAccess, forfeitReward: boolean): Promise<Deleted> {
  try {
    const query = forfeitReward ? "?forfeitReward=true" : "";
    const res = await fetch(`/api/customer/sessions/${encodeURIComponent(access.sessionId)}${query}`, {
      method: "DELETE",
      headers: { "x-parley-data-code": access.dataCode },
    });
    if (res.status === 409) {
      const body = (await res.json().catch(() => ({}))) as {
        reason?: string;
        reward?: { amountMinor: number; currency: string };
      };
      return body.reason === "reward_unclaimed" && body.reward
        ? { kind: "rewardUnclaimed", amountMinor: body.reward.amountMinor, currency: body.reward.currency }
        : { kind: "stillGoing" };
    }
    return problemOf(res) ?? { kind: "deleted" };
  } catch {
    return { kind: "unreachable" };
  }
}

/** The customer's copy of what is kept, as a JSON file. */
export function downloadCopy(data: KeptConversation): void {
  const blob = new Blob([JSON.stringify(data.raw, null, 2)], { type: "application/json" });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = `parley-${(data.startedAt ?? data.endedAt ?? "conversation").slice(0, 10)}.json`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
