// moveMedia and the media-lost routing of startConversation, against a
// stand-in router and old media: the order in which the old media's last
// audio, the break's silence and the new media's audio reach the speech
// stream, and which close reasons give the session fresh media.
import { EventEmitter } from "node:events";
import type { VoiceConversation } from "@parley/inference-bridge";
import { CustomerMedia, RtpAudioDecoder } from "@parley/media";
import { encodeFrames, rtpPacket } from "@parley/media/testing";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import { AudioClock } from "../src/session/AudioClock.ts";
import { Session } from "../src/session/Session.ts";
import { type ConversationParts, moveMedia } from "../src/session/startConversation.ts";

const logger = pino({ level: "silent" });
const store = { code: "demo", businessId: "b1", name: "Demo", language: "en", currency: "SEK" };
const payloads = encodeFrames(12, () => true);
const FRAME_16K = 320;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function setUp() {
  const bus = new LocalLiveBus(logger);
  cleanups.push(() => bus.close());
  const session = new Session("s1", store, { logger, bus, nodeId: "n1" });
  // What CustomerMedia's constructor and close() touch of a router.
  const router = { observer: new EventEmitter(), rtpCapabilities: {} };
  const lost: string[] = [];
  const parts = {
    config: { media: { listenIp: "127.0.0.1", announcedAddress: undefined, reorderWindowMs: 40 } },
    mediaPool: { acquireRouter: () => ({ router, release: () => {}, pid: 1 }) },
    onMediaLost: (_: Session, reason: string) => lost.push(reason),
  } as unknown as ConversationParts;
  // The speech stream's view: its worker rejects a chunk that overlaps or leaves a gap.
  const violations: string[] = [];
  let end = 0;
  const clock = new AudioClock((pcm, offset) => {
    if (offset !== end) violations.push(`chunk at ${offset}, timeline at ${end}`);
    end = offset + pcm.length;
  });
  return { session, parts, lost, clock, violations, end: () => end };
}

/** Old media as CustomerMedia.close() treats its decoder: what the decoder holds goes out, then it stops. */
function oldMedia(decoder: RtpAudioDecoder) {
  return {
    closed: false,
    audioStats: undefined,
    close() {
      if (this.closed) return;
      this.closed = true;
      decoder.flush();
      decoder.close();
    },
  };
}

describe("moveMedia", () => {
  it("closes the old media before the break: the audio its decoder held lands before the silence, gap-free", async () => {
    const { session, parts, clock, violations, end } = setUp();
    const decoder = new RtpAudioDecoder(clock.next());
    for (let i = 0; i < 10; i++) decoder.push(rtpPacket(i, i * 960, payloads[i]!));
    decoder.push(rtpPacket(11, 11 * 960, payloads[11]!)); // 10 is missing: 11 waits in the reorder window
    const old = oldMedia(decoder);
    // A rejoin (or a takeover) with the old media still open.
    session.attachParts(old as unknown as CustomerMedia, {} as VoiceConversation, () => {}, clock);
    await moveMedia(parts, session);
    expect(old.closed).toBe(true);
    expect(session.media).not.toBe(old);
    expect(violations).toEqual([]);
    // Packets 0–11 (10 concealed), then the 400 ms break; the new media's sample 0 follows it.
    expect(end()).toBe(12 * FRAME_16K + 400 * 16);
    session.media?.close();
  });

  it("gives the session fresh media when either of its transports failed, while a socket holds it", async () => {
    const { session, parts, lost, clock } = setUp();
    session.attach({ detach() {} });
    const decoder = new RtpAudioDecoder(clock.next());
    session.attachParts(oldMedia(decoder) as unknown as CustomerMedia, {} as VoiceConversation, () => {}, clock);
    for (const reason of [CustomerMedia.SEND_TRANSPORT_FAILED, CustomerMedia.RECV_TRANSPORT_FAILED, "DTLS closed"]) {
      await moveMedia(parts, session); // media from openMedia, with its close routing
      session.media?.close(reason);
    }
    // A transport the app closed itself (hanging up) is not moved.
    expect(lost).toEqual([CustomerMedia.SEND_TRANSPORT_FAILED, CustomerMedia.RECV_TRANSPORT_FAILED]);
  });
});
