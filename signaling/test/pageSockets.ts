// The customer app's WebSockets and microphone tracks in the hands of a
// browser test: it can drop the sockets, keep the page's network away while
// the node ends the conversation, and end or pause the microphone.
import { fromBinary } from "@bufbuild/protobuf";
import { EndReason } from "@parley/proto/live";
import { type ClientMessage, ClientMessageSchema } from "@parley/proto/ws";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import type { Session } from "../src/session/Session.ts";

/**
 * Before the page loads: its sockets are kept in `window.sockets`, the binary frames they send
 * in `window.sent`; while `window.away` is set, new ones go nowhere.
 */
export function holdSockets(p: Page): Promise<void> {
  return p.addInitScript(() => {
    const Native = window.WebSocket;
    const opened: WebSocket[] = [];
    const sent: number[][] = [];
    Object.assign(window, { sockets: opened, sent });
    window.WebSocket = class extends Native {
      constructor(url: string | URL, protocols?: string | string[]) {
        super((window as unknown as { away?: boolean }).away ? "ws://127.0.0.1:9/" : url, protocols);
        opened.push(this);
      }
      override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
        if (data instanceof Uint8Array) sent.push([...data]);
        if (!(this as unknown as { silent?: boolean }).silent) super.send(data);
      }
    };
  });
}

/** The frames the page's sockets sent so far (holdSockets), decoded. */
export async function sentMessages(p: Page): Promise<ClientMessage[]> {
  const sent = await p.evaluate(() => (window as unknown as { sent: number[][] }).sent);
  return sent.map((bytes) => fromBinary(ClientMessageSchema, new Uint8Array(bytes)));
}

/**
 * The page's latest socket stops carrying bytes either way and stays open: a network switched
 * under it without a reset (no close comes for minutes).
 */
export function silenceSocket(p: Page): Promise<void> {
  return p.evaluate(() => {
    const socket = (window as unknown as { sockets: WebSocket[] }).sockets.at(-1)!;
    socket.onmessage = null;
    Object.assign(socket, { silent: true });
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

/** Before the page loads: its peer connections are kept in `window.peerConnections`, in the order made. */
export function holdPeerConnections(p: Page): Promise<void> {
  return p.addInitScript(() => {
    const Native = window.RTCPeerConnection;
    const made: RTCPeerConnection[] = [];
    Object.assign(window, { peerConnections: made });
    window.RTCPeerConnection = class extends Native {
      constructor(configuration?: RTCConfiguration) {
        super(configuration);
        made.push(this);
      }
    };
  });
}

/**
 * The page's open peer connection of `transport` (the app makes the send transport's first)
 * reports `state` as its connection state, as Chrome does after a network switch; undefined: it
 * reports its own again. (Nothing in a test can take a browser's network away from under its
 * peer connection on loopback.)
 */
export function reportConnectionState(p: Page, transport: "send" | "recv", state: RTCPeerConnectionState | undefined) {
  return p.evaluate(
    ({ index, state }) => {
      // mediasoup-client also makes (and closes) one to read the browser's capabilities.
      const open = (window as unknown as { peerConnections: RTCPeerConnection[] }).peerConnections.filter(
        (pc) => pc.signalingState !== "closed",
      );
      const pc = open[index]!;
      if (state) Object.defineProperty(pc, "connectionState", { get: () => state, configurable: true });
      else delete (pc as { connectionState?: unknown }).connectionState;
      pc.dispatchEvent(new Event("connectionstatechange"));
    },
    { index: transport === "send" ? 0 : 1, state },
  );
}
