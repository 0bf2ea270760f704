// Turns one Opus RTP stream into a gap-free 16 kHz PCM timeline.
//
// The RTP timestamp is the clock: a packet's audio is placed at
// (timestamp - first timestamp) / 3 samples, so a lost packet, a DTX pause or
// a reordered packet never shifts later audio in time. Packets that arrive
// out of order are held for at most `reorderWindowMs`; in-order packets go
// straight through, so the common case adds no latency. A hole left by lost
// packets is filled by the codec's concealment for up to `concealMs` (the
// voice carried on, as a phone call's receiver does: a word cut by 20 ms of
// digital silence splits in two for a recogniser), faded out into silence
// if the hole is longer; a pause (DTX) is silence.
//
// With `maxAheadMs`, the sender's audio cannot run ahead of the wall clock
// (time since the first packet) by more than that: a sender that floods
// packets gets at most real-time audio out of the node, so what it sends
// cannot grow the memory behind this stage. The slack is for audio only (a
// late first packet, a burst after a stall): a gap may not take the timeline
// past the wall clock, so a timestamp jump forward is followed with no more
// silence than real time allows (as a jitter buffer would) instead of
// spending the slack, which real-time audio would then overrun for good.
//
// With `idleFillLagMs`, the timeline keeps running while the sender is quiet
// (Opus DTX: one packet per 400 ms of silence): silence is added in real
// time, that far behind the wall clock, so a pause reaches the recogniser and
// turn-taking as it happens. Only after quiet audio: DTX begins when the
// encoder hears no speech, while packets missing in the middle of a word are
// a network stall, and the timeline waits for them as it always did. The lag
// is the jitter allowance; a packet that comes later than that after a pause
// (the network, or this process, stalled longer) finds its place already
// filled with made-up silence: the pause is stretched by that much and its
// audio kept whole. That time is the decoder's own, not the sender's: it is
// no run-ahead, and it is given back in the next pause, whose silence starts
// that much later (the network holds packets after a pause that long, so
// earlier silence would be stretched again). So stretches do not add up over
// pauses: the timeline leads real time by about the longest hold-up, at most.
//
// A sender whose numbering or clock jumps is followed, as a jitter buffer
// would: a run of packets that are consistent with each other but "late"
// (a sequence restart lower, or a stray packet far ahead that moved the
// expected number past the real stream) makes the decoder take up their
// numbering; a timestamp that steps backwards (a restart, or a jump of 2^31
// or more, which reads the same) re-anchors the clock. Either way the new
// audio continues where the timeline is, which stays gap-free and monotonic.
import { tickWhileIdle } from "./IdleTicker.ts";
import { OpusPcmDecoder, OUTPUT_SAMPLE_RATE } from "./opus.ts";
import { newRtpView, readRtpHeader } from "./rtp.ts";

const RTP_CLOCK_RATE = 48_000;
const TICKS_PER_SAMPLE = RTP_CLOCK_RATE / OUTPUT_SAMPLE_RATE;
const SILENCE_CHUNK_SAMPLES = OUTPUT_SAMPLE_RATE; // silence is emitted in ≤ 1 s chunks
/** A gap cut by more than this (a long pause, a timestamp jump) starts the decoder afresh. */
const RESET_AFTER_CUT_SAMPLES = OUTPUT_SAMPLE_RATE / 2;
const MAX_PENDING = 64;
/** Decoded audio quieter than this (RMS of 32768, about -36 dBFS) is no speech: a pause may follow it. */
const QUIET_RMS = 500;
/** Late packets in a row, with consecutive sequence numbers, after which the decoder follows their numbering. */
const RESYNC_RUN = 3;
/** A packet further behind than this (packets) is no reordering: nothing holds one back that long. */
const RESYNC_BEHIND = MAX_PENDING;

/**
 * `pcm` (valid only during the call) starts at absolute sample
 * `offsetSamples`; chunks are contiguous. `arrivedAtMs` is when the newest
 * packet behind this audio reached the media plane (performance.now()).
 */
export type PcmSink = (pcm: Int16Array, offsetSamples: number, arrivedAtMs: number) => void;

export interface RtpAudioStats {
  packets: number;
  lost: number;
  late: number;
  reordered: number;
  invalid: number;
  /** Samples added where no packet's audio was: silence, and the codec's concealment of lost packets. */
  concealedSamples: number;
  /** Of those, the codec's concealment of lost packets. */
  lossConcealedSamples: number;
  /** Packets dropped because their audio would have run ahead of real time (maxAheadMs). */
  excess: number;
  /** Silence added in real time while the sender was quiet (idleFillLagMs). */
  idleSamples: number;
  /** How much later than their timestamps packets were placed, because they came after their place was filled. */
  stretchedSamples: number;
  /** Packets dropped whole because their timestamp did not move past audio already emitted. */
  overlapped: number;
  /** Times the sender's sequence numbers or timestamps jumped and the decoder followed (see above). */
  resyncs: number;
}

export interface RtpAudioDecoderOptions {
  reorderWindowMs?: number;
  /** Gaps longer than this (a sender that paused) are not filled sample by sample. */
  maxGapMs?: number;
  /** How much of a hole left by lost packets the codec conceals (default 100 ms), the last frame faded out; 0: silence. */
  concealMs?: number;
  /** How far the timeline may run ahead of the time since the first packet; absent: no bound. */
  maxAheadMs?: number;
  /**
   * Keep the timeline running in real time, this far behind, while the sender
   * is quiet (see above); absent: a pause is filled when the next packet comes.
   */
  idleFillLagMs?: number;
  now?: () => number;
}

interface PendingPacket {
  sequenceNumber: number;
  timestamp: number;
  payload: Uint8Array;
  arrivedAtMs: number;
}

export class RtpAudioDecoder {
  readonly stats: RtpAudioStats = {
    packets: 0,
    lost: 0,
    late: 0,
    reordered: 0,
    invalid: 0,
    concealedSamples: 0,
    lossConcealedSamples: 0,
    excess: 0,
    idleSamples: 0,
    stretchedSamples: 0,
    overlapped: 0,
    resyncs: 0,
  };
  readonly #sink: PcmSink;
  readonly #decoder = new OpusPcmDecoder();
  readonly #view = newRtpView();
  readonly #reorderWindowMs: number;
  readonly #maxGapSamples: number;
  readonly #concealSamples: number;
  readonly #maxAheadSamples: number;
  readonly #now: () => number;
  readonly #idleFillLagMs: number;
  #unregisterIdle: (() => void) | undefined;
  #firstArrivalMs = 0;
  /** When the last decoded packet arrived, and where its audio ended. */
  #lastArrivalMs = 0;
  #endOfLastPacket = 0;
  #lastPacketQuiet = false;
  /** Packets were given up on (or failed to decode) since the last decoded one: the next gap is a loss. */
  #afterLoss = false;
  /** Where the silence made up in the current pause begins; +∞ outside one. */
  #idleFrom = Number.POSITIVE_INFINITY;
  /** Samples by which stretching placed the sender's audio later than its clock, not yet given back. */
  #stretchLead = 0;
  readonly #pending = new Map<number, PendingPacket>();
  #started = false;
  #expectedSeq = 0; // next sequence number, 16-bit
  #lastTimestamp = 0; // 32-bit RTP timestamp of the last decoded packet
  #extendedTicks = 0; // RTP ticks since the first packet, unwrapped
  #writtenSamples = 0; // end of the timeline emitted so far
  #lateRun = 0; // late packets in a row that may be a new numbering (see #followLateRun)
  #lateRunNext = 0; // the sequence number that continues that run
  #timer: NodeJS.Timeout | undefined;
  #silence = new Int16Array(SILENCE_CHUNK_SAMPLES);
  #closed = false;

  constructor(sink: PcmSink, options: RtpAudioDecoderOptions = {}) {
    this.#sink = sink;
    this.#reorderWindowMs = options.reorderWindowMs ?? 40;
    this.#maxGapSamples = ((options.maxGapMs ?? 60_000) * OUTPUT_SAMPLE_RATE) / 1000;
    this.#concealSamples = ((options.concealMs ?? 100) * OUTPUT_SAMPLE_RATE) / 1000;
    this.#maxAheadSamples =
      options.maxAheadMs === undefined ? Number.POSITIVE_INFINITY : (options.maxAheadMs * OUTPUT_SAMPLE_RATE) / 1000;
    this.#now = options.now ?? (() => performance.now());
    this.#idleFillLagMs = options.idleFillLagMs ?? Number.POSITIVE_INFINITY;
    if (options.idleFillLagMs !== undefined) this.#unregisterIdle = tickWhileIdle(this);
  }

  /** Samples emitted so far: the end of the PCM timeline. */
  get writtenSamples(): number {
    return this.#writtenSamples;
  }

  /** Feeds one RTP packet (any buffer view). */
  push(packet: Uint8Array): void {
    if (this.#closed) return;
    const view = this.#view;
    if (!readRtpHeader(packet, view) || view.payloadEnd === view.payloadStart) {
      this.stats.invalid++;
      return;
    }
    this.stats.packets++;
    const arrivedAtMs = this.#now();
    if (!this.#started) {
      this.#started = true;
      this.#expectedSeq = view.sequenceNumber;
      this.#lastTimestamp = view.timestamp;
      this.#firstArrivalMs = arrivedAtMs;
    }
    const ahead = (((view.sequenceNumber - this.#expectedSeq) << 16) >> 16) as number; // signed 16-bit
    if (ahead < 0 && !this.#followLateRun(view.sequenceNumber, view.timestamp, ahead)) {
      this.stats.late++; // already concealed, or a duplicate
      return;
    }
    this.#lateRun = 0;
    const payload = packet.subarray(view.payloadStart, view.payloadEnd);
    if (ahead <= 0) {
      // In order (or, after #followLateRun, the first of the new numbering).
      this.#decodeAndEmit(view.timestamp, payload, arrivedAtMs);
      this.#expectedSeq = (this.#expectedSeq + 1) & 0xffff;
      this.#drainInOrder();
      return;
    }
    // A hole: hold this packet (copied: the caller may reuse its buffer).
    if (!this.#pending.has(view.sequenceNumber)) {
      this.#pending.set(view.sequenceNumber, {
        sequenceNumber: view.sequenceNumber,
        timestamp: view.timestamp,
        payload: payload.slice(),
        arrivedAtMs,
      });
    }
    if (this.#pending.size >= MAX_PENDING) this.#skipHole();
    else this.#timer ??= setTimeout(() => this.#onReorderTimeout(), this.#reorderWindowMs);
  }

  /** Emits whatever is held (end of stream). */
  flush(): void {
    while (this.#pending.size > 0) this.#skipHole();
  }

  /**
   * If the last packet was quiet and none came for longer than
   * `idleFillLagMs`, fills the timeline with silence up to that far behind
   * real time, less the stretch not yet given back (see above), and at most
   * `maxGapMs` past the last packet: a sender that stopped for good is not
   * followed forever. Called by the shared idle ticker.
   */
  fillIdle(): void {
    if (!this.#lastPacketQuiet || this.#closed || this.#pending.size > 0) return;
    const now = this.#now();
    const behindMs = now - this.#lastArrivalMs - this.#idleFillLagMs;
    if (!(behindMs > 0)) return;
    const pause = Math.min(Math.floor((behindMs * OUTPUT_SAMPLE_RATE) / 1000) - this.#stretchLead, this.#maxGapSamples);
    const samples = this.#endOfLastPacket + pause - this.#writtenSamples;
    if (samples <= 0) return;
    this.stats.idleSamples += samples;
    if (this.#idleFrom === Number.POSITIVE_INFINITY) this.#idleFrom = this.#writtenSamples;
    this.#emitSilence(samples, now);
  }

  close(): void {
    this.#closed = true;
    this.#unregisterIdle?.();
    this.#unregisterIdle = undefined;
    this.#pending.clear();
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * A late packet: true when it completes a run that is no late copy of what
   * was decoded (consecutive numbers, and far behind or with newer audio than
   * the last decoded) and the decoder now follows that numbering, this packet
   * being the expected one. Whatever the old numbering held goes out first.
   */
  #followLateRun(sequenceNumber: number, timestamp: number, ahead: number): boolean {
    if (ahead >= -RESYNC_BEHIND && ((timestamp - this.#lastTimestamp) | 0) <= 0) {
      this.#lateRun = 0; // reordered or duplicated: the stream itself
      return false;
    }
    this.#lateRun = this.#lateRun > 0 && sequenceNumber === this.#lateRunNext ? this.#lateRun + 1 : 1;
    this.#lateRunNext = (sequenceNumber + 1) & 0xffff;
    if (this.#lateRun < RESYNC_RUN) return false;
    this.flush();
    this.#expectedSeq = sequenceNumber;
    this.#reanchor(timestamp);
    return true;
  }

  /** The sender's clock is discontinuous: `timestamp` is placed where the timeline ends. */
  #reanchor(timestamp: number): void {
    this.#lastTimestamp = timestamp;
    this.#extendedTicks = this.#writtenSamples * TICKS_PER_SAMPLE;
    this.#decoder.reset();
    this.stats.resyncs++;
  }

  #onReorderTimeout(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    this.#skipHole();
  }

  /** Gives up on the missing packets before the oldest held one. */
  #skipHole(): void {
    let oldest: PendingPacket | undefined;
    let oldestAhead = Number.POSITIVE_INFINITY;
    for (const p of this.#pending.values()) {
      const ahead = (((p.sequenceNumber - this.#expectedSeq) << 16) >> 16) as number;
      if (ahead < oldestAhead) {
        oldestAhead = ahead;
        oldest = p;
      }
    }
    if (!oldest) return;
    this.stats.lost += oldestAhead;
    this.#afterLoss = true;
    this.#expectedSeq = oldest.sequenceNumber;
    this.#drainInOrder();
  }

  #drainInOrder(): void {
    if (this.#pending.size === 0) return;
    for (let p = this.#pending.get(this.#expectedSeq); p; p = this.#pending.get(this.#expectedSeq)) {
      this.#pending.delete(p.sequenceNumber);
      this.stats.reordered++;
      this.#decodeAndEmit(p.timestamp, p.payload, p.arrivedAtMs);
      this.#expectedSeq = (this.#expectedSeq + 1) & 0xffff;
    }
    if (this.#pending.size === 0 && this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    } else if (this.#pending.size > 0 && !this.#timer) {
      this.#timer = setTimeout(() => this.#onReorderTimeout(), this.#reorderWindowMs);
    }
  }

  #decodeAndEmit(timestamp: number, payload: Uint8Array, arrivedAtMs: number): void {
    const step = (timestamp - this.#lastTimestamp) | 0; // signed 32-bit
    // In sequence order the clock only moves forward: a step back is a restart or a jump of
    // 2^31 or more, after which every packet would overlap audio already emitted and be dropped.
    if (step < 0) this.#reanchor(timestamp);
    else {
      this.#extendedTicks += step;
      this.#lastTimestamp = timestamp;
    }
    let position = Math.round(this.#extendedTicks / TICKS_PER_SAMPLE);
    if (position < this.#writtenSamples && position >= this.#idleFrom) {
      // Late into silence made up for a pause: this and every later packet
      // are placed that much later, so none of the customer's audio is cut.
      const late = this.#writtenSamples - position;
      this.#extendedTicks += late * TICKS_PER_SAMPLE;
      position += late;
      this.stats.stretchedSamples += late;
      this.#stretchLead += late;
    } else if (position > this.#writtenSamples && this.#stretchLead > 0 && this.#lastPacketQuiet) {
      // The end of a pause: its silence gives back the stretch (the idle fill left room for it).
      const back = Math.min(position - this.#writtenSamples, this.#stretchLead);
      this.#extendedTicks -= back * TICKS_PER_SAMPLE;
      position -= back;
      this.#stretchLead -= back;
    }
    let gap = position - this.#writtenSamples;
    // Where the timeline ends for a sender exactly at real time since the first
    // packet: the stretch is the decoder's own time, no run-ahead.
    const realTimeEnd = ((arrivedAtMs - this.#firstArrivalMs) * OUTPUT_SAMPLE_RATE) / 1000 + this.#stretchLead;
    // How much the timeline may still grow now (unbounded without maxAheadMs).
    const room = realTimeEnd + this.#maxAheadSamples - this.#writtenSamples;
    if (room <= 0) {
      this.stats.excess++; // faster than real time: dropped before decoding, its time becomes silence if ever
      return;
    }
    // A gap may reach real time, not the slack: a pause's silence has passed, a jump forward has not.
    const maxGap =
      this.#maxAheadSamples === Number.POSITIVE_INFINITY
        ? this.#maxGapSamples
        : Math.max(0, Math.min(this.#maxGapSamples, Math.floor(realTimeEnd - this.#writtenSamples)));
    if (gap > maxGap) {
      // The sender paused for a long time (or jumped its timestamps): resume
      // right here rather than feeding a minute of zeros to the recogniser.
      // Logged by the owner via stats.
      // A cut of a few milliseconds is jitter (this packet came sooner after
      // the first than the sender's clock says): the voice goes on, and so do
      // the decoder's state and the concealment of a loss.
      if (gap - maxGap > RESET_AFTER_CUT_SAMPLES) this.#decoder.reset();
      this.#extendedTicks -= (gap - maxGap) * TICKS_PER_SAMPLE;
      position = this.#writtenSamples + maxGap;
      gap = maxGap;
    }
    if (gap > 0) {
      this.stats.concealedSamples += gap;
      const voiced = this.#afterLoss ? this.#emitLossConcealment(gap, arrivedAtMs) : 0;
      if (gap > voiced) this.#emitSilence(gap - voiced, arrivedAtMs);
    }
    this.#afterLoss = false;
    let pcm: Int16Array;
    try {
      pcm = this.#decoder.decode(payload);
    } catch {
      this.stats.invalid++;
      this.#afterLoss = true;
      return; // the next packet's position fills the hole, as for a lost one
    }
    // A packet that overlaps audio already emitted (its timestamp moved on by
    // less than the previous packet's audio) keeps only its new part.
    const overlap = this.#writtenSamples - position;
    if (overlap > 0) {
      if (overlap >= pcm.length) {
        this.stats.overlapped++;
        return;
      }
      pcm = pcm.subarray(overlap);
    }
    const offset = this.#writtenSamples;
    this.#writtenSamples += pcm.length;
    this.#lastArrivalMs = arrivedAtMs;
    this.#endOfLastPacket = this.#writtenSamples;
    this.#idleFrom = Number.POSITIVE_INFINITY;
    if (this.#unregisterIdle) this.#lastPacketQuiet = isQuiet(pcm);
    this.#sink(pcm, offset, arrivedAtMs);
  }

  /**
   * The codec's concealment of a hole of `gap` samples, one lost frame at a
   * time, for at most concealMs; returns how many samples were emitted. When
   * silence follows, the last frame fades out into it: libopus's concealment
   * is still audible there, and a step to digital zero is the cut this avoids.
   */
  #emitLossConcealment(gap: number, arrivedAtMs: number): number {
    const samples = Math.min(gap, this.#concealSamples);
    let emitted = 0;
    while (emitted < samples) {
      let pcm: Int16Array | undefined;
      try {
        pcm = this.#decoder.conceal();
      } catch {
        break; // silence fills the rest
      }
      if (!pcm || pcm.length === 0) break;
      const n = Math.min(pcm.length, samples - emitted);
      const chunk = n === pcm.length ? pcm : pcm.subarray(0, n);
      if (emitted + n === samples && samples < gap) fadeOut(chunk);
      const offset = this.#writtenSamples;
      this.#writtenSamples += n;
      this.#sink(chunk, offset, arrivedAtMs);
      emitted += n;
    }
    this.stats.lossConcealedSamples += emitted;
    return emitted;
  }

  #emitSilence(samples: number, arrivedAtMs: number): void {
    while (samples > 0) {
      const n = Math.min(samples, SILENCE_CHUNK_SAMPLES);
      const offset = this.#writtenSamples;
      this.#writtenSamples += n;
      this.#sink(this.#silence.subarray(0, n), offset, arrivedAtMs);
      samples -= n;
    }
  }
}

/** A linear fade to zero, in place (the decoder's own output buffer). */
function fadeOut(pcm: Int16Array): void {
  const n = pcm.length;
  for (let i = 0; i < n; i++) pcm[i] = Math.round((pcm[i]! * (n - 1 - i)) / n);
}

function isQuiet(pcm: Int16Array): boolean {
  let sumSquares = 0;
  for (let i = 0; i < pcm.length; i++) sumSquares += pcm[i]! * pcm[i]!;
  return sumSquares < QUIET_RMS * QUIET_RMS * pcm.length;
}
