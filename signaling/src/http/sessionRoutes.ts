// POST /api/sessions: a customer scanned a store's QR code. Returns the
// session id and a short-lived token that the WebSocket join presents.
import { issueToken } from "../auth/token.ts";
import type { SessionRegistry } from "../session/SessionRegistry.ts";
import type { StoreDirectory } from "../stores/StoreDirectory.ts";
import type { TemplatedApp } from "../uws.ts";
import { handle, json, readBody } from "./respond.ts";

const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;

export interface SessionRouteDeps {
  sessions: SessionRegistry;
  stores: StoreDirectory;
  jwtSecret: string;
  tokenTtlMs: number;
}

export function mountSessionRoutes(app: TemplatedApp, deps: SessionRouteDeps): void {
  app.post(
    "/api/sessions",
    handle("/api/sessions", async (res, req) => {
      const contentType = req.getHeader("content-type");
      const body = readBody(res, 4096);
      if (!contentType.startsWith("application/json")) return json(415, { error: "send application/json" });
      let storeCode: unknown;
      try {
        storeCode = (JSON.parse((await body).toString("utf8")) as { storeCode?: unknown }).storeCode;
      } catch (error) {
        if ((error as { status?: number }).status === 413) return json(413, { error: "body too large" });
        return json(400, { error: "body is not valid JSON" });
      }
      if (typeof storeCode !== "string" || !STORE_CODE.test(storeCode))
        return json(400, { error: "storeCode must be 2–64 letters, digits, '-' or '_'" });
      const store = await deps.stores.find(storeCode);
      if (!store) return json(404, { error: `unknown store "${storeCode}"` });
      const session = deps.sessions.create(store);
      const expiresAt = Date.now() + deps.tokenTtlMs;
      const token = issueToken(deps.jwtSecret, {
        sid: session.id,
        store: store.code,
        exp: Math.floor(expiresAt / 1000),
      });
      session.logger.info({ storeCode: store.code, businessId: store.businessId }, "session created");
      return json(201, { sessionId: session.id, token, expiresAt: new Date(expiresAt).toISOString() });
    }),
  );
}
