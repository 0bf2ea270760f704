// The cursor of GetFeedback's pages: where a page ended (a HistoryPosition),
// bound to the scope and filter that page was read in. Opaque to dashboards.
// It carries no scope of its own: the next page is read in the caller's scope
// as resolved from its token, so a cursor forged or taken from another wall
// can at most say where to go on within what the caller may see. The binding
// makes a cursor of another business, stores or filter a clear refusal
// instead of a page of something else.
import { createHash } from "node:crypto";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { isFeedbackPosition } from "@parley/records";
import type { HistoryFilter, HistoryPosition, HistoryScope } from "./WallHistory.ts";

const VERSION = "1";
/** Longer than any cursor of ours (about 100 characters): not decoded at all. */
const MAX_CURSOR_CHARS = 200;
const SHAPE = /^1\.([A-Za-z0-9_-]{16})\.(\d{1,19})\.([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

/** A short digest of the scope and filter a page was read in (every field, in a fixed order). */
function binding(scope: HistoryScope, filter: HistoryFilter): string {
  const key = JSON.stringify([
    scope.businessId ?? "*",
    scope.storeCodes ? [...scope.storeCodes].sort() : "*",
    filter.startedSinceMs ?? 0,
    filter.score ?? "",
    filter.topic ?? "",
    filter.sentiment ?? "",
    filter.status ?? "",
    filter.language ?? "",
  ]);
  return createHash("sha256").update(key).digest("base64url").slice(0, 16);
}

export function encodeFeedbackCursor(position: HistoryPosition, scope: HistoryScope, filter: HistoryFilter): string {
  const raw = `${VERSION}.${binding(scope, filter)}.${position.endedAtUs}.${position.sessionId.toLowerCase()}`;
  return Buffer.from(raw).toString("base64url");
}

/** The position of a cursor given for this scope and filter; INVALID_ARGUMENT for any other. */
export function decodeFeedbackCursor(cursor: string, scope: HistoryScope, filter: HistoryFilter): HistoryPosition {
  const malformed = () =>
    new ParleyError(ErrorCode.INVALID_ARGUMENT, "cursor is not one this wall gave: ask for the first page (no cursor)");
  if (cursor.length > MAX_CURSOR_CHARS || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw malformed();
  const parts = SHAPE.exec(Buffer.from(cursor, "base64url").toString("latin1"));
  if (!parts) throw malformed();
  const position = { endedAtUs: BigInt(parts[2]!), sessionId: parts[3]! };
  if (!isFeedbackPosition(position)) throw malformed();
  if (parts[1] !== binding(scope, filter))
    throw new ParleyError(
      ErrorCode.INVALID_ARGUMENT,
      "cursor is of another scope or filter: send its page's filter again, or ask for the first page (no cursor)",
    );
  return position;
}
