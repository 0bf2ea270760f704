// GET /api/stores/:code: the customer app asks, before anything else, whether
// the store its link names exists, and how to show it (its name, the language
// it takes feedback in), and how long this node keeps what is said
// (DATA_RETENTION_DAYS, VOICE_DATA_RETENTION_HOURS: the consent screen states
// them, and the consent version stored with a session names them). A store's
// code is printed on its QR code: what this answers is public, and nothing
// else of the store (its business, its reward policy, its currency) is. 404 for a code no store has, 400 for one no store
// can have. Every lookup counts against the client's own rate (429 with
// Retry-After): an unknown code is a query of the database each time.
import { toParleyError } from "@parley/proto/errors";
import type { Records } from "@parley/records";
import type { Logger } from "pino";
import { clientKey } from "../edge/ClientIpResolver.ts";
import { type RateLimiter, retryAfterSeconds } from "../edge/RateLimiter.ts";
import type { TemplatedApp } from "../uws.ts";
import type { HttpEdge } from "./HttpEdge.ts";
import { json } from "./respond.ts";
import { STORE_CODE } from "./sessionRoutes.ts";

export interface StoreRouteDeps {
  records: Pick<Records, "findStore">;
  /** Store lookups per client. */
  perClient: RateLimiter;
  /** Failures of the node's own (the records database away), not the client's. */
  logger: Logger;
  /** How long the records keep a conversation's data (config.records). */
  retention: Retention;
}

/** How long a conversation's data is kept: what the customer consents to. */
export interface Retention {
  /** DATA_RETENTION_DAYS: the transcript, its scores, the AI's questions. */
  transcriptDays: number;
  /** VOICE_DATA_RETENTION_HOURS: the voice fingerprint. */
  voiceDataHours: number;
}

/** What anyone holding the store's link may know of it. */
export interface PublicStore {
  code: string;
  name: string;
  /** BCP 47 (sv-SE, en-US): the language its customers speak to Parley in. */
  language: string;
  retention: Retention;
}

export function mountStoreRoutes(app: TemplatedApp, edge: HttpEdge, deps: StoreRouteDeps): void {
  edge.route(app, "/api/stores/:code", {
    GET: async ({ req, info }) => {
      // Before the first await: uWS reuses req afterwards.
      let code: string;
      try {
        code = decodeURIComponent(req.getParameter(0) ?? "");
      } catch {
        return json(400, { error: "malformed store code" });
      }
      const byClient = await deps.perClient.consume(clientKey(info.clientIp));
      if (!byClient.allowed)
        return json(
          429,
          { error: "too many store lookups from this address", retryAfterMs: byClient.retryAfterMs },
          { "retry-after": retryAfterSeconds(byClient.retryAfterMs) },
        );
      if (!STORE_CODE.test(code)) return json(400, { error: "a store code is 2–64 letters, digits, '-' or '_'" });
      let store: Awaited<ReturnType<Records["findStore"]>>;
      try {
        store = await deps.records.findStore(code);
      } catch (error) {
        deps.logger.warn({ err: error, storeCode: code }, "store lookup failed");
        return json(503, { error: toParleyError(error).message }, { "retry-after": "1" });
      }
      if (!store) return json(404, { error: "no such store" });
      const shown: PublicStore = {
        code: store.code,
        name: store.name,
        language: store.language,
        retention: { transcriptDays: deps.retention.transcriptDays, voiceDataHours: deps.retention.voiceDataHours },
      };
      return json(200, shown);
    },
  });
}
