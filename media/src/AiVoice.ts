// The AI's voice as a server-side Producer: 16 kHz PCM from a speech
// synthesiser is Opus-encoded in 20 ms frames and sent as RTP, at real-time
// pace, into the session's router through a DirectTransport. The customer's
// browser consumes it on its receive transport like any other track.
//
// PCM may arrive in pieces (stream(): the synthesiser's first clause, then the
// rest), so speaking starts with the first piece. A piece that comes late
// leaves a gap, sent as a new talkspurt (marker bit, RTP clock moved on by the
// pause) rather than as late packets.
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
/** The Opus encoder's complexity for the AI's voice (see the constructor). */
export const VOICE_COMPLEXITY = 5;

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
    // libopus defaults to complexity 10: ~150 µs per 20 ms frame of a flite
    // voice on the development VM (0.75 % of a core per voice speaking). 5,
    // what WebRTC uses on phones, takes ~105 µs with the decoded waveform as
    // close to the original (bench/voice-encoder.bench.ts).
    this.#encoder.complexity = VOICE_COMPLEXITY;
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
    const pieces: Int16Array[] = [];
    let pieceOffset = 0; // samples of pieces[0] already sent
    let queued = 0; // samples written and not yet sent
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
    const frame = new Int16Array(FRAME_SAMPLES);

    /** Moves the next 20 ms of written PCM into `frame` (zero-padded at the very end). */
    const takeFrame = (): void => {
      let filled = 0;
      while (filled < FRAME_SAMPLES && pieces.length > 0) {
        const piece = pieces[0]!;
        const n = Math.min(FRAME_SAMPLES - filled, piece.length - pieceOffset);
        frame.set(piece.subarray(pieceOffset, pieceOffset + n), filled);
        filled += n;
        pieceOffset += n;
        if (pieceOffset === piece.length) {
          pieces.shift();
          pieceOffset = 0;
        }
      }
      if (filled < FRAME_SAMPLES) frame.fill(0, filled);
      queued -= filled;
    };
    const sendFrame = (): boolean => {
      takeFrame();
      const payload = this.#encoder.encode(frame);
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
    const frameReady = () => queued >= FRAME_SAMPLES || (ending && queued > 0);
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
        pieces.push(pcm);
        queued += pcm.length;
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
