// The customer app's WebSockets in the hands of a browser test: it can drop
// them, and keep the page's network away while the node ends the conversation.
import { EndReason } from "@parley/proto/live";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import type { Session } from "../src/session/Session.ts";

/** Before the page loads: its sockets are kept in `window.sockets`; while `window.away` is set, new ones go nowhere. */
export function holdSockets(p: Page): Promise<void> {
  return p.addInitScript(() => {
    const Native = window.WebSocket;
    const opened: WebSocket[] = [];
    (window as unknown as { sockets: WebSocket[] }).sockets = opened;
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super((window as unknown as { away?: boolean }).away ? "ws://127.0.0.1:9/" : url, protocols);
        opened.push(this);
      }
    };
  });
}

/** The customer's network goes, the node ends the conversation meanwhile (its rejoin grace ran out), the network comes back. */
export async function endWhileAway(p: Page, server: ParleyServer, session: Session): Promise<void> {
  await p.evaluate(() => {
    (window as unknown as { away: boolean }).away = true;
    (window as unknown as { sockets: WebSocket[] }).sockets.at(-1)!.close(3000, "dropped");
  });
  await expect.poll(() => session.hasOwner).toBe(false);
  await server.sessions.end(session, EndReason.DISCONNECTED, true);
  await p.evaluate(() => {
    (window as unknown as { away: boolean }).away = false;
  });
}
