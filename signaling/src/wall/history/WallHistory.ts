// What the wall shows beyond what is live: finished feedback for the ticker,
// one conversation for the drill-down, the tiles' figures and the trends.
// The records package (Postgres) is the durable source; until it is wired,
// MemoryWallHistory keeps what this node's bus carried during its lifetime.
// Every method takes the caller's resolved scope: the history never decides
// tenancy itself, and never returns anything outside the scope.
import type { Conversation, Feedback, Tiles, TrendRange, Trends } from "@parley/proto/wall";

export interface HistoryScope {
  /** undefined: every business (admins). */
  businessId: string | undefined;
  /** undefined: every store of the business. */
  storeCodes: ReadonlySet<string> | undefined;
}

/** "Today" as the viewer's clock has it. */
export interface DayWindow {
  nowMs: number;
  /** The viewer's offset from UTC (Stockholm: 60, or 120 in summer). */
  utcOffsetMinutes: number;
}

export interface WallHistory {
  /** "memory" (this node's lifetime) or "records" (Postgres). */
  readonly source: string;
  /** Finished conversations in scope, newest first. */
  recent(scope: HistoryScope, limit: number): Promise<Feedback[]>;
  /**
   * One conversation, finished or still live, with its business and store
   * in `feedback` (the caller checks them against the scope); undefined if
   * unknown.
   */
  conversation(sessionId: string): Promise<Conversation | undefined>;
  /** Today's figures against the 7 days before (live_now is the hub's). */
  tiles(scope: HistoryScope, window: DayWindow): Promise<Tiles>;
  trends(scope: HistoryScope, range: TrendRange, window: DayWindow): Promise<Trends>;
  close(): void;
}

export const DAY_MS = 86_400_000;

/** Midnight of the viewer's day containing `window.nowMs`, as unix ms. */
export function dayStart(window: DayWindow, daysBack = 0): number {
  const offset = window.utcOffsetMinutes * 60_000;
  return Math.floor((window.nowMs + offset) / DAY_MS) * DAY_MS - offset - daysBack * DAY_MS;
}

export function inHistoryScope(scope: HistoryScope, businessId: string, storeCode: string): boolean {
  if (scope.businessId !== undefined && scope.businessId !== businessId) return false;
  return !scope.storeCodes || scope.storeCodes.has(storeCode);
}
