// The AI's voice as a server-side Producer: 16 kHz PCM from a speech
// synthesiser is Opus-encoded in 20 ms frames and sent as RTP, at real-time
// pace, into the session's router through a DirectTransport. The customer's
// browser consumes it on its receive transport like any other track.
//
// PCM may arrive in pieces (stream(): the synthesiser's first clause, then the
// rest), so speaking starts with the first piece. Each piece is whole frames,
// encoded once node-wide (EncodedSpeech: the AI repeats itself). A piece that
// comes late leaves a gap, sent as a new talkspurt (marker bit, RTP clock
// moved on by the pause) rather than as late packets.
//
// Barge-in: stop() cancels the remaining frames at once; the browser's jitter
// buffer (tens of ms) is all that still plays.
import { randomInt } from "node:crypto";
import type { types as ms } from "mediasoup";
import { type EncodedSpeech, encodedSpeech } from "./EncodedSpeech.ts";

const TICKS_PER_FRAME = 960; // 20 ms at the 48 kHz RTP clock
const PAYLOAD_TYPE = 100;
/** Frames sent at once when speech starts, to fill the browser's jitter buffer. */
const PREBUFFER_FRAMES = 3;

export type PlaybackEnd = "done" | "interrupted";

export interface Playback {
  /** Resolves once the last frame was sent, or when stopped. */
  readonly ended: Promise<PlaybackEnd>;
  /** Stops sending (barge-in). Safe to call twice. */
  stop(): void;
}

/** A playback fed piece by piece. */
export interface VoiceStream extends Playback {
  /** Appends PCM to what is being said; ignored once the playback ended. */
  write(pcm: Int16Array): void;
  /** Nothing more will be written: the playback ends "done" after the last frame. Safe to call twice. */
  end(): void;
}

export class AiVoice {
  readonly producer: ms.Producer;
  readonly #transport: ms.DirectTransport;
  readonly #ssrc: number;
  #seq = randomInt(0, 0xffff);
  #timestamp = randomInt(0, 0xffffffff);
  #current: { stop: () => void } | undefined;
  #lastSentAt: number | undefined;
  #closed = false;

  static async create(router: ms.Router): Promise<AiVoice> {
    const transport = await router.createDirectTransport();
    const ssrc = randomInt(1, 0xffffffff);
    let producer: ms.Producer;
    try {
      producer = await transport.produce({
        kind: "audio",
        rtpParameters: {
          codecs: [
            {
              mimeType: "audio/opus",
              payloadType: PAYLOAD_TYPE,
              clockRate: 48_000,
              channels: 2,
              parameters: { useinbandfec: 1 },
            },
          ],
          encodings: [{ ssrc }],
        },
        appData: { source: "ai-voice" },
      });
    } catch (error) {
      transport.close(); // the router is shared and outlives the session: nothing else would close it
      throw error;
    }
    return new AiVoice(transport, producer, ssrc);
  }

  private constructor(transport: ms.DirectTransport, producer: ms.Producer, ssrc: number) {
    this.#transport = transport;
    this.producer = producer;
    this.#ssrc = ssrc;
  }

  get speaking(): boolean {
    return this.#current !== undefined;
  }

  /**
   * Plays 16 kHz mono PCM. A playback already running is stopped first.
   * `onFirstPacket` fires when the first RTP packet leaves (TTS time to first byte).
   */
  play(pcm: Int16Array, onFirstPacket?: () => void): Playback {
    const stream = this.stream(onFirstPacket);
    stream.write(pcm);
    stream.end();
    return stream;
  }

  /**
   * Starts a playback fed with write() and closed with end(); its first frames
   * leave as soon as the first PCM is written. A playback already running is
   * stopped first. `onFirstPacket` fires when the first RTP packet leaves.
   */
  stream(onFirstPacket?: () => void): VoiceStream {
    this.#current?.stop();
    const pieces: EncodedSpeech[] = [];
    let pieceFrame = 0; // frames of pieces[0] already sent
    let queued = 0; // frames written and not yet sent
    let ending = false;
    let sent = 0; // frames sent by this playback
    // Frame `i` is due at anchorAt + (i - anchorFrame - PREBUFFER_FRAMES) × 20 ms; the
    // anchor moves when sending (re)starts after the PCM ran out.
    let anchorAt = 0;
    let anchorFrame = 0;
    let running = false;
    let marker = true;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let finish: (end: PlaybackEnd) => void = () => {};
    const ended = new Promise<PlaybackEnd>((resolve) => (finish = resolve));

    /** The next frame's Opus payload (encoded now, or earlier by any playback of the same piece). */
    const takeFrame = (): Uint8Array => {
      const piece = pieces[0]!;
      const payload = piece.frame(pieceFrame++);
      if (pieceFrame === piece.frameCount) {
        pieces.shift();
        pieceFrame = 0;
      }
      queued--;
      return payload;
    };
    const sendFrame = (): boolean => {
      const payload = takeFrame();
      try {
        this.producer.send(this.#packet(payload, marker));
      } catch {
        return false; // the worker or transport went away: stop, do not throw from a timer
      }
      marker = false;
      this.#lastSentAt = performance.now();
      if (sent++ === 0) onFirstPacket?.();
      return true;
    };
    const stop = (end: PlaybackEnd) => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      running = false;
      if (this.#current === handle) this.#current = undefined;
      if (settled) return;
      settled = true;
      pieces.length = 0;
      finish(end);
    };
    const frameReady = () => queued > 0;
    // Frames go out on a fixed schedule, so timer jitter never accumulates.
    const tick = () => {
      timer = undefined;
      if (this.#closed || this.producer.closed) return stop("interrupted");
      const due = anchorFrame + Math.floor((performance.now() - anchorAt) / 20) + PREBUFFER_FRAMES;
      while (sent < due && frameReady()) if (!sendFrame()) return stop("interrupted");
      if (ending && queued === 0) return stop("done");
      if (!frameReady()) {
        running = false; // the PCM ran out: write() starts a new talkspurt
        return;
      }
      timer = setTimeout(
        tick,
        Math.max(1, anchorAt + (sent - anchorFrame - PREBUFFER_FRAMES + 1) * 20 - performance.now()),
      );
    };
    const start = () => {
      running = true;
      marker = true;
      anchorAt = performance.now();
      anchorFrame = sent;
      // The RTP clock keeps running through pauses (between replies, or while a
      // late piece is made): jump it by the wall-clock pause so the browser's
      // jitter buffer sees a silence, not late packets.
      if (this.#lastSentAt !== undefined) {
        const pausedTicks = Math.max(0, Math.round((anchorAt - this.#lastSentAt) * 48) - TICKS_PER_FRAME);
        this.#timestamp = (this.#timestamp + pausedTicks) >>> 0;
      }
      tick();
    };
    const handle = { stop: () => stop("interrupted") };
    this.#current = handle;
    return {
      ended,
      stop: handle.stop,
      write: (pcm: Int16Array) => {
        if (settled || ending || pcm.length === 0) return;
        const piece = encodedSpeech(pcm);
        pieces.push(piece);
        queued += piece.frameCount;
        if (!running && frameReady()) start();
      },
      end: () => {
        if (settled || ending) return;
        ending = true;
        if (queued === 0) stop("done");
        else if (!running) start();
      },
    };
  }

  /** Stops whatever is playing (barge-in). */
  interrupt(): void {
    this.#current?.stop();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current?.stop();
    this.#transport.close();
  }

  #packet(payload: Uint8Array, marker: boolean): Buffer {
    const packet = Buffer.allocUnsafe(12 + payload.byteLength);
    packet[0] = 0x80;
    packet[1] = (marker ? 0x80 : 0) | PAYLOAD_TYPE;
    packet.writeUInt16BE(this.#seq, 2);
    packet.writeUInt32BE(this.#timestamp, 4);
    packet.writeUInt32BE(this.#ssrc, 8);
    packet.set(payload, 12);
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + TICKS_PER_FRAME) >>> 0;
    return packet;
  }
}
