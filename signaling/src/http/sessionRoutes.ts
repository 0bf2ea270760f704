// POST /api/sessions: a customer scanned a store's QR code and consented to
// the recording. The records database checks the store and keeps the
// session's first row (consent, device and IP fingerprints, receipt); the
// reply carries the session id, a short-lived token for the WebSocket join,
// and the data code with which the customer can later see or delete what
// they said.
import { randomUUID } from "node:crypto";
import { ErrorCode, toParleyError } from "@parley/proto/errors";
import type { Records } from "@parley/records";
import { issueToken } from "../auth/token.ts";
import type { SessionRegistry } from "../session/SessionRegistry.ts";
import type { TemplatedApp } from "../uws.ts";
import { handle, json, readBody, remoteAddress } from "./respond.ts";

const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;

export interface SessionRouteDeps {
  sessions: SessionRegistry;
  records: Records;
  jwtSecret: string;
  tokenTtlMs: number;
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

export function mountSessionRoutes(app: TemplatedApp, deps: SessionRouteDeps): void {
  app.post(
    "/api/sessions",
    handle("/api/sessions", async (res, req) => {
      const contentType = req.getHeader("content-type");
      const ip = remoteAddress(res);
      const body = readBody(res, 4096);
      if (!contentType.startsWith("application/json")) return json(415, { error: "send application/json" });
      let request: SessionRequest;
      try {
        request = JSON.parse((await body).toString("utf8")) as SessionRequest;
      } catch (error) {
        if ((error as { status?: number }).status === 413) return json(413, { error: "body too large" });
        return json(400, { error: "body is not valid JSON" });
      }
      const { storeCode } = request;
      if (typeof storeCode !== "string" || !STORE_CODE.test(storeCode))
        return json(400, { error: "storeCode must be 2–64 letters, digits, '-' or '_'" });
      const sessionId = randomUUID();
      let begun: Awaited<ReturnType<Records["beginSession"]>>;
      try {
        begun = await deps.records.beginSession({
          sessionId,
          storeCode,
          consent: {
            given: request.consent?.given === true,
            version: optionalString(request.consent?.version, 64) ?? "",
          },
          deviceId: optionalString(request.deviceId, 128),
          ip,
          receipt: optionalString(request.receipt, 128),
        });
      } catch (error) {
        const e = toParleyError(error);
        return json(STATUS_OF[e.code] ?? 500, { error: e.message });
      }
      const session = deps.sessions.create(sessionId, {
        code: begun.storeCode,
        businessId: begun.businessId,
        name: begun.storeName,
        language: begun.language,
        currency: begun.currency,
      });
      const expiresAt = Date.now() + deps.tokenTtlMs;
      const token = issueToken(deps.jwtSecret, {
        sid: sessionId,
        store: begun.storeCode,
        exp: Math.floor(expiresAt / 1000),
      });
      session.logger.info({ storeCode: begun.storeCode, businessId: begun.businessId }, "session created");
      return json(201, {
        sessionId,
        token,
        expiresAt: new Date(expiresAt).toISOString(),
        dataCode: begun.dataCode,
      });
    }),
  );
}
