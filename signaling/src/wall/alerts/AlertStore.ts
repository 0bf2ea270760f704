// Where the wall keeps the alerts it raised, so that a dashboard connecting
// after a node restarted (or to another node) sees the same recent alerts.
// Every node raises the same alert and saves it; the store keeps it once, by
// its key (RecordsAlertStore: Postgres). Like the history, it never decides
// tenancy itself: reads take the caller's resolved scope.
import type { Alert } from "@parley/proto/wall";
import type { HistoryScope } from "../history/WallHistory.ts";

/** "stored": this save kept it; "duplicate": it was kept already (another node, or an earlier raise). */
export type AlertSaveResult = "stored" | "duplicate";

export interface AlertStore {
  /**
   * Keeps an alert under `key` (what it is about: the same on every node),
   * unless one of that key is kept; `quietMs`: nor when one of the same
   * kind, business and topic was raised that shortly before (a topic spike's
   * cool-off).
   */
  save(alert: Alert, key: string, quietMs?: number): Promise<AlertSaveResult>;
  /**
   * The newest alerts in scope raised at or after `sinceMs`, newest first
   * (business-wide ones only to scopes of the whole business).
   */
  recent(scope: HistoryScope, sinceMs: number, limit: number): Promise<Alert[]>;
}
