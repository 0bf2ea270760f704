// POST /api/sessions: a customer scanned a store's QR code and consented to
// the recording. The records database knows the store and keeps the
// session's first row (consent, device and IP fingerprints, receipt); the
// reply carries the session id, a short-lived token for the WebSocket join,
// and the data code with which the customer can later see or delete what
// they said.
//
// In maintenance (MAINTENANCE_MODE) every creation is refused: 503, reason
// "maintenance". Otherwise limits, in this order: the client's request rate (every attempt counts,
// bad ones too), the store's request rate (both 429 with Retry-After), the
// store's language (422, reason "language_unsupported": no node's speech
// workers recognise it, and waiting will not change that), a node with room
// among those that recognise it (503 with Retry-After), this node's speech
// capacity for that language when the conversation is placed here (503 with
// Retry-After: every worker that speaks it is busy; a node given the
// conversation judges its own at the microphone), and the sessions the
// client holds open (429: one ends first). A refusal for
// want of capacity (speech, or no node with room) is logged with the store,
// within the node's budget for lines that clients cause; a speech refusal is
// also counted (asr_admissions_total{outcome="refused"}).
import { randomUUID } from "node:crypto";
import { ErrorCode, toParleyError } from "@parley/proto/errors";
import type { Records } from "@parley/records";
import type { Logger } from "pino";
import { issueToken } from "../auth/token.ts";
import { type SessionPlacement, wsUrlOf } from "../cluster/SessionPlacement.ts";
import { clientKey } from "../edge/ClientIpResolver.ts";
import type { LogThrottle } from "../edge/LogThrottle.ts";
import type { PerClientLimit } from "../edge/PerClientLimit.ts";
import { type RateLimiter, retryAfterSeconds } from "../edge/RateLimiter.ts";
import type { SessionRegistry } from "../session/SessionRegistry.ts";
import { SPEECH_RETRY_AFTER_MS } from "../session/startConversation.ts";
import type { TemplatedApp } from "../uws.ts";
import type { HttpEdge } from "./HttpEdge.ts";
import { json, readBody } from "./respond.ts";

/** What a store code may be (GET /api/stores/:code checks it the same way). */
export const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;
/** The hint given while the deployment is in maintenance (an operator's work takes minutes). */
const MAINTENANCE_RETRY_AFTER_MS = 5 * 60_000;
/** A NUL character, JSON-escaped (a raw one is looked for with includes). */
const ESCAPED_NUL = /\\u0000/i;

export interface SessionRouteDeps {
  sessions: SessionRegistry;
  records: Records;
  jwtSecret: string;
  tokenTtlMs: number;
  /** Session creation per client and per store. */
  rates: { perClient: RateLimiter; perStore: RateLimiter };
  /** Sessions one client holds open. */
  openSessions: PerClientLimit;
  /** Whether a new conversation in `language` (BCP 47) would get a speech worker of this node now; a no counts as a refused admission. */
  speechAvailable: (language: string) => boolean;
  /** MAINTENANCE_MODE: every new conversation is refused (503, reason "maintenance"). */
  maintenance: boolean;
  /**
   * Which node takes the conversation: the one with the most room among
   * those whose speech workers recognise the store's language (this node's
   * own languages as AsrWorkerPool.servedLanguages says them: a worker that
   * has not answered yet does not count against a language).
   */
  placement: SessionPlacement;
  nodeId: string;
  /** Failures of the node's own (the records database away), not the client's. */
  logger: Logger;
  /** The node's budget for log lines that clients cause (refusals a flood of requests could repeat). */
  logThrottle: LogThrottle;
}

/** A warning a client's request caused, within the node's budget (the next line says how many were dropped). */
function budgetedWarn(deps: SessionRouteDeps, fields: Record<string, unknown>, message: string): void {
  const admitted = deps.logThrottle.admit();
  if (!admitted.ok) return;
  deps.logger.warn(admitted.suppressed ? { ...fields, suppressedBefore: admitted.suppressed } : fields, message);
}

interface SessionRequest {
  storeCode?: unknown;
  consent?: { given?: unknown; version?: unknown };
  deviceId?: unknown;
  receipt?: unknown;
}

const optionalString = (value: unknown, max: number) =>
  typeof value === "string" && value.length > 0 ? value.slice(0, max) : undefined;

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.INVALID_ARGUMENT]: 400,
  [ErrorCode.UNAVAILABLE]: 503,
};

const nodeFull = () =>
  json(
    503,
    { error: "no node can take a conversation now; try again in a moment", retryAfterMs: SPEECH_RETRY_AFTER_MS },
    { "retry-after": retryAfterSeconds(SPEECH_RETRY_AFTER_MS) },
  );

const languageNames = new Intl.DisplayNames(["en"], { type: "language", fallback: "none" });

/** "sv-SE" → "Swedish (Sweden) (sv-SE)"; a tag Intl does not know (or a malformed one) stays as it is. */
function languageName(tag: string): string {
  try {
    const name = languageNames.of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch {
    return tag; // not a well-formed tag (RangeError)
  }
}

const tooMany = (error: string, retryAfterMs: number) =>
  json(429, { error, retryAfterMs }, { "retry-after": retryAfterSeconds(retryAfterMs) });

export function mountSessionRoutes(app: TemplatedApp, edge: HttpEdge, deps: SessionRouteDeps): void {
  edge.route(app, "/api/sessions", {
    POST: async ({ res, req, info }) => {
      const contentType = req.getHeader("content-type");
      const body = readBody(res, 4096);
      const byClient = await deps.rates.perClient.consume(clientKey(info.clientIp));
      if (!byClient.allowed) return tooMany("too many new sessions from this address", byClient.retryAfterMs);
      if (deps.maintenance)
        return json(
          503,
          {
            error: "Parley is down for maintenance; try again later",
            reason: "maintenance",
            retryAfterMs: MAINTENANCE_RETRY_AFTER_MS,
          },
          { "retry-after": retryAfterSeconds(MAINTENANCE_RETRY_AFTER_MS) },
        );
      if (!contentType.startsWith("application/json")) return json(415, { error: "send application/json" });
      let request: SessionRequest;
      let text: string;
      try {
        text = (await body).toString("utf8");
        request = JSON.parse(text) as SessionRequest;
      } catch (error) {
        if ((error as { status?: number }).status === 413) return json(413, { error: "body too large" });
        return json(400, { error: "body is not valid JSON" });
      }
      // PostgreSQL's text cannot hold NUL: the session's first row would be refused after the 201.
      if (text.includes("\0") || ESCAPED_NUL.test(text))
        return json(400, { error: "text must not contain NUL characters" });
      // JSON.parse also takes "null", "3" or "[]": only an object is a request.
      if (typeof request !== "object" || request === null || Array.isArray(request))
        return json(400, { error: "body must be a JSON object" });
      const { storeCode } = request;
      if (typeof storeCode !== "string" || !STORE_CODE.test(storeCode))
        return json(400, { error: "storeCode must be 2–64 letters, digits, '-' or '_'" });
      let store: Awaited<ReturnType<Records["findStore"]>>;
      try {
        store = await deps.records.findStore(storeCode);
      } catch (error) {
        deps.logger.warn({ err: error, storeCode }, "session refused: store lookup failed");
        return json(503, { error: toParleyError(error).message });
      }
      if (!store) return json(404, { error: `unknown store "${storeCode}"` });
      const byStore = await deps.rates.perStore.consume(store.code);
      if (!byStore.allowed) return tooMany("too many new sessions for this store", byStore.retryAfterMs);
      let placement: Awaited<ReturnType<SessionPlacement["choose"]>>;
      try {
        placement = await deps.placement.choose(store.language);
      } catch {
        placement = { refusal: "full" };
      }
      if (placement.refusal === "language_unsupported") {
        // No node's speech workers recognise it. Before anything is stored: the customer is told
        // at once, not after talking to no one.
        budgetedWarn(
          deps,
          { storeCode: store.code, language: store.language, reason: "language_unsupported" },
          "session refused: no speech worker recognises the store's language",
        );
        return json(422, {
          error: `Voice conversations are not available in ${languageName(store.language)}, this store's language.`,
          reason: "language_unsupported",
          language: store.language,
        });
      }
      if (!placement.node) {
        budgetedWarn(deps, { storeCode: store.code, reason: "node_full" }, "session refused: no node can take it");
        return nodeFull();
      }
      const target = placement.node;
      // Speech capacity is judged by the node that runs the conversation: here now, another at its microphone.
      if (target.nodeId === deps.nodeId && !deps.speechAvailable(store.language)) {
        budgetedWarn(
          deps,
          { storeCode: store.code, language: store.language, reason: "speech_busy" },
          "session refused: every speech worker is busy",
        );
        return json(
          503,
          { error: "every speech worker is busy; try again in a moment", retryAfterMs: SPEECH_RETRY_AFTER_MS },
          { "retry-after": retryAfterSeconds(SPEECH_RETRY_AFTER_MS) },
        );
      }
      const here = target.nodeId === deps.nodeId;
      // pickNode only chooses another node that customers can be sent to.
      const redirectTo = here ? undefined : target.publicUrl;
      if (redirectTo === null) return json(500, { error: "placed on a node without a public address" });
      const release = deps.openSessions.acquire(info.clientIp);
      if (!release) return json(429, { error: `at most ${deps.openSessions.max} open sessions per client` });
      const sessionId = randomUUID();
      let dataCode: string;
      try {
        ({ dataCode } = await deps.records.beginSession({
          sessionId,
          storeCode: store.code,
          consent: {
            given: request.consent?.given === true,
            version: optionalString(request.consent?.version, 64) ?? "",
          },
          deviceId: optionalString(request.deviceId, 128),
          ip: info.clientIp,
          receipt: optionalString(request.receipt, 128),
        }));
      } catch (error) {
        release();
        const e = toParleyError(error);
        const status = STATUS_OF[e.code] ?? 500;
        if (status >= 500) deps.logger.error({ err: error, sessionId }, "session could not be stored");
        return json(status, { error: e.message });
      }
      const expiresAt = Date.now() + deps.tokenTtlMs;
      if (!here) {
        // Another node has more room: it picks the session up at the customer's join.
        release(); // the per-client cap counts what each node holds: the owner counts it at the join
        try {
          await deps.placement.handOver(target.nodeId, { sessionId, store, clientIp: info.clientIp }, deps.tokenTtlMs);
        } catch {
          return json(503, { error: "the conversation could not be placed; try again in a moment" });
        }
      } else if (deps.sessions.full) {
        // Creations racing through the awaits above all saw the room one of them takes. (The
        // stored row stays that of a session nobody joined.)
        release();
        return nodeFull();
      } else {
        const session = deps.sessions.create(sessionId, store, { clientIp: info.clientIp, release });
        session.logger.info(
          { storeCode: store.code, businessId: store.businessId, clientIp: info.clientIp },
          "session created",
        );
      }
      const token = issueToken(deps.jwtSecret, {
        sid: sessionId,
        store: store.code,
        exp: Math.floor(expiresAt / 1000),
        ...(here ? {} : { node: target.nodeId }),
      });
      return json(201, {
        sessionId,
        token,
        expiresAt: new Date(expiresAt).toISOString(),
        dataCode,
        // Only for another node: the app reaches this one where it loaded the page.
        ...(redirectTo ? { wsUrl: wsUrlOf(redirectTo), nodeId: target.nodeId } : {}),
      });
    },
  });
}
