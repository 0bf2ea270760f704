// The wall's alerts kept by the records package (Postgres, records.alerts):
// this adapter maps the wall protocol's Alert to records' rows and back.
import { create } from "@bufbuild/protobuf";
import { type Alert, AlertKind, AlertSchema } from "@parley/proto/wall";
import type { AlertKindName, AlertQueries, AlertRecord } from "@parley/records";
import type { HistoryScope } from "../history/WallHistory.ts";
import type { AlertSaveResult, AlertStore } from "./AlertStore.ts";

function kindName(kind: AlertKind): AlertKindName {
  const name = AlertKind[kind];
  if (name === undefined || name === "UNSPECIFIED") throw new TypeError(`an alert of no kind (${kind}) is not kept`);
  return name as AlertKindName;
}

const alertOf = (r: AlertRecord): Alert =>
  create(AlertSchema, {
    id: r.id,
    kind: AlertKind[r.kind],
    businessId: r.businessId,
    storeCode: r.storeCode ?? "",
    sessionId: r.sessionId ?? "",
    topic: r.topic,
    score: r.score,
    sentiment: r.sentiment,
    count: r.count,
    atMs: BigInt(r.atMs),
    live: r.live,
    detail: r.detail,
  });

export class RecordsAlertStore implements AlertStore {
  readonly #queries: AlertQueries;

  constructor(queries: AlertQueries) {
    this.#queries = queries;
  }

  async save(alert: Alert, key: string, quietMs?: number): Promise<AlertSaveResult> {
    return await this.#queries.save({
      key,
      id: alert.id,
      kind: kindName(alert.kind),
      businessId: alert.businessId,
      storeCode: alert.storeCode || undefined,
      sessionId: alert.sessionId || undefined,
      topic: alert.topic,
      score: alert.score,
      sentiment: alert.sentiment,
      count: alert.count,
      live: alert.live,
      detail: alert.detail,
      atMs: Number(alert.atMs),
      ...(quietMs ? { quietMs } : {}),
    });
  }

  async recent(scope: HistoryScope, sinceMs: number, limit: number): Promise<Alert[]> {
    const records = await this.#queries.recent(
      { businessId: scope.businessId, storeCodes: scope.storeCodes ? [...scope.storeCodes] : undefined },
      sinceMs,
      limit,
    );
    return records.map(alertOf);
  }
}
