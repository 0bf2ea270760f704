// The AI's voice as a server-side Producer: 16 kHz PCM from a speech
// synthesiser is Opus-encoded in 20 ms frames and sent as RTP, at real-time
// pace, into the session's router through a DirectTransport. The customer's
// browser consumes it on its receive transport like any other track.
//
// Barge-in: stop() cancels the remaining frames at once; the browser's jitter
// buffer (tens of ms) is all that still plays.
import { randomInt } from "node:crypto";
import { Encoder } from "@evan/opus";
import type { types as ms } from "mediasoup";

const FRAME_SAMPLES = 320; // 20 ms at 16 kHz
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

export class AiVoice {
  readonly producer: ms.Producer;
  readonly #transport: ms.DirectTransport;
  readonly #encoder = new Encoder({ channels: 1, sample_rate: 16_000, application: "voip" });
  readonly #ssrc: number;
  #seq = randomInt(0, 0xffff);
  #timestamp = randomInt(0, 0xffffffff);
  #current: { stop: () => void } | undefined;
  #lastSentAt: number | undefined;
  #closed = false;

  static async create(router: ms.Router): Promise<AiVoice> {
    const transport = await router.createDirectTransport();
    const ssrc = randomInt(1, 0xffffffff);
    const producer = await transport.produce({
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
    return new AiVoice(transport, producer, ssrc);
  }

  private constructor(transport: ms.DirectTransport, producer: ms.Producer, ssrc: number) {
    this.#transport = transport;
    this.producer = producer;
    this.#ssrc = ssrc;
    this.#encoder.bitrate = 24_000;
  }

  get speaking(): boolean {
    return this.#current !== undefined;
  }

  /**
   * Plays 16 kHz mono PCM. A playback already running is stopped first.
   * `onFirstPacket` fires when the first RTP packet leaves (TTS time to first byte).
   */
  play(pcm: Int16Array, onFirstPacket?: () => void): Playback {
    this.#current?.stop();
    const frames = Math.ceil(pcm.length / FRAME_SAMPLES);
    const frame = new Int16Array(FRAME_SAMPLES);
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    let finish: (end: PlaybackEnd) => void = () => {};
    const ended = new Promise<PlaybackEnd>((resolve) => (finish = resolve));
    const startedAt = performance.now();

    // The RTP clock keeps running between replies: jump it by the wall-clock pause
    // so the browser's jitter buffer sees a silence, not late packets.
    if (this.#lastSentAt !== undefined) {
      const pausedTicks = Math.max(0, Math.round((startedAt - this.#lastSentAt) * 48) - TICKS_PER_FRAME);
      this.#timestamp = (this.#timestamp + pausedTicks) >>> 0;
    }
    const sendFrame = (index: number): boolean => {
      frame.fill(0);
      frame.set(pcm.subarray(index * FRAME_SAMPLES, (index + 1) * FRAME_SAMPLES));
      const payload = this.#encoder.encode(frame);
      try {
        this.producer.send(this.#packet(payload, index === 0));
      } catch {
        return false; // the worker or transport went away: stop, do not throw from a timer
      }
      this.#lastSentAt = performance.now();
      if (index === 0) onFirstPacket?.();
      return true;
    };
    const stop = (end: PlaybackEnd) => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (this.#current === handle) this.#current = undefined;
      finish(end);
    };
    // Frames go out on a fixed schedule (start + i × 20 ms), so timer jitter never accumulates.
    const tick = () => {
      if (this.#closed || this.producer.closed) return stop("interrupted");
      const due = Math.min(frames, Math.floor((performance.now() - startedAt) / 20) + PREBUFFER_FRAMES);
      while (next < due) if (!sendFrame(next++)) return stop("interrupted");
      if (next >= frames) return stop("done");
      timer = setTimeout(tick, Math.max(1, startedAt + (next - PREBUFFER_FRAMES + 1) * 20 - performance.now()));
    };
    const handle = { stop: () => stop("interrupted") };
    this.#current = handle;
    tick();
    return { ended, stop: handle.stop };
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
