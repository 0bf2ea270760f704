// What the wall shows beyond what is live: finished feedback for the ticker,
// one conversation for the drill-down, the tiles' figures and the trends.
// The records database is the source (RecordsWallHistory). Every method over
// many conversations takes the caller's resolved scope: the history never
// decides tenancy itself, and never returns anything outside the scope.
import type { Conversation, Feedback, Tiles, TrendRange, Trends } from "@parley/proto/wall";
import type { FeedbackFilter, FeedbackPosition } from "@parley/records";

export interface HistoryScope {
  /** undefined: every business (admins). */
  businessId: string | undefined;
  /** undefined: every store of the business. */
  storeCodes: ReadonlySet<string> | undefined;
}

/** The wall's filters over finished conversations: records' own type, which applies them. */
export type HistoryFilter = FeedbackFilter;

/** Where a page of the history ended (records' own type): a position within a scope, never a scope. */
export type HistoryPosition = FeedbackPosition;

/** One page of the history, newest first, and where the next begins (undefined: no older ones). */
export interface HistoryPage {
  feedback: Feedback[];
  next: HistoryPosition | undefined;
}

/** "Today" as the viewer's clock has it. */
export interface DayWindow {
  nowMs: number;
  /** The viewer's offset from UTC (Stockholm: 60, or 120 in summer); used without `timeZone`. */
  utcOffsetMinutes: number;
  /** The viewer's IANA time zone, checked (proto's viewer-day isTimeZone): days follow its clock changes. */
  timeZone?: string;
}

export interface WallHistory {
  /** Where it comes from ("records"), shown on the wall. */
  readonly source: string;
  /**
   * Finished conversations in scope that match the filter ({}: every one), a
   * page at a time, newest first: the latest `limit`, or the `limit` after a
   * page's `next`. Stable while conversations keep ending (keyset on the end
   * and id, no offset).
   */
  page(scope: HistoryScope, limit: number, filter: HistoryFilter, after?: HistoryPosition): Promise<HistoryPage>;
  /**
   * These conversations (moderation's public screens), in the order asked;
   * unknown ones left out. Each carries its business and store: the caller
   * checks them.
   */
  feedback(sessionIds: readonly string[]): Promise<Feedback[]>;
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
