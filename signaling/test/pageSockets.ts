// The customer app's WebSockets and microphone tracks in the hands of a
// browser test: it can drop the sockets, keep the page's network away while
// the node ends the conversation, and end or pause the microphone.
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

/**
 * Before the page loads: the microphone tracks it opens are kept in `window.tracks`.
 * `reopen` false: opening the microphone a second time fails (the device is gone).
 */
export function holdMicrophones(p: Page, reopen = true): Promise<void> {
  return p.addInitScript((reopenAllowed: boolean) => {
    const media = navigator.mediaDevices;
    const native = media.getUserMedia.bind(media);
    const tracks: MediaStreamTrack[] = [];
    (window as unknown as { tracks: MediaStreamTrack[] }).tracks = tracks;
    media.getUserMedia = async (constraints) => {
      if (tracks.length > 0 && !reopenAllowed) throw new DOMException("device gone", "NotReadableError");
      const stream = await native(constraints);
      tracks.push(...stream.getAudioTracks());
      return stream;
    };
  }, reopen);
}
