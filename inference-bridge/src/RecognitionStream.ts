// One conversation's speech-recognition stream. Audio is written to a gRPC
// bidi stream as it arrives and also kept (PcmReplayBuffer) until the worker
// commits it with an AudioAck. If the stream breaks, a new one is opened,
// possibly on another worker, starting at the committed offset: the new
// worker receives exactly the audio that has no final transcript yet, so no
// audio is skipped and none is transcribed twice. A final counts only once
// its ack has come: a worker that dies between the two leaves that audio
// uncommitted, and the next worker re-finalises it under the same segment id
// (which replaces the text) instead of adding it again under a new one.
//
// No stream is opened before the first audio: a conversation that joins and
// stays silent costs no recogniser. Writes respect gRPC's backpressure: while
// the call's buffer is full, audio waits in the (bounded) replay ring and is
// written from there on 'drain'; if the worker falls so far behind that the
// ring overwrites audio it never received, that audio is counted as dropped
// and the stream restarts after the gap.
//
// A worker whose decoder hangs while its connection stays up (keepalive
// pings answered) never breaks the call: a watchdog treats a call that has
// committed nothing for `stallSeconds` of audio as broken, and the stream
// resumes elsewhere while the replay ring still holds the uncommitted audio.
// An end that the worker does not finalise in time takes its open partials
// as final, so the customer's last answer still reaches the score and record;
// after a failover, where the new worker is still redoing the audio, what the
// broken call heard stands instead when it reaches further.
import { create } from "@bufbuild/protobuf";
import { RecognizeRequestSchema, type RecognizeResponse, type Segment } from "@parley/proto/asr";
import { StreamState } from "@parley/proto/live";
import type { Logger } from "pino";
import type { AsrWorker, AsrWorkerPool, RecognizeCall } from "./AsrWorkerPool.ts";
import {
  asrAudioDropped,
  asrPartialLag,
  asrReconnects,
  asrSegments,
  asrStreams,
  voiceProcessingErrors,
  voiceProcessingQueueSize,
} from "./metrics.ts";
import { type PcmChunk, PcmReplayBuffer } from "./PcmReplayBuffer.ts";
import { backoffMs, DEFAULT_ASR_RETRY, type RetryPolicy } from "./retry.ts";
import type { SpeechReservation } from "./SpeechReservation.ts";

export const SAMPLE_RATE_HZ = 16_000;

/**
 * Messages the call may hold before we stop writing (2 s of 20 ms frames):
 * beyond it, the worker is not reading (HTTP/2 flow control holds them) and
 * audio waits in the replay ring, which is bounded, instead of in an
 * unbounded write buffer.
 */
const MAX_PENDING_WRITES = 100;

/** A full ring drops a chunk per push (50 a second): its error line is written at most this often, drops summed. */
const OVERFLOW_LOG_INTERVAL_MS = 5_000;

export interface RecognitionStreamOptions {
  sessionId: string;
  pool: AsrWorkerPool;
  logger: Logger;
  language?: string;
  retry?: RetryPolicy;
  /** Upper bound of one conversation: the gRPC deadline. */
  maxSessionMs?: number;
  /** Uncommitted audio kept for replay. */
  replaySeconds?: number;
  /**
   * Audio a call may take in without committing any before it counts as
   * hung (default 30 s). The pocketsphinx worker commits every 5 s of
   * silence and at each utterance's end, cut at 20 s: about 25 s apart at
   * worst. Keep it well under replaySeconds: the resume starts at the commit.
   */
  stallSeconds?: number;
  /**
   * Audio per gRPC message. 20 ms sends each decoded frame at once (lowest
   * latency); larger values batch frames, which costs far less CPU per stream
   * and adds at most that much delay (pocketsphinx decodes 100 ms blocks anyway).
   */
  sendChunkMs?: number;
  onSegment: (segment: Segment) => void;
  /** The first segment id the worker may use (a conversation resumed after its node restarted continues its ids). */
  firstSegmentId?: number;
  onState: (state: StreamState, detail: string) => void;
}

/** gRPC statuses that say the caller was at fault (3 INVALID_ARGUMENT, 7 PERMISSION_DENIED, 16 UNAUTHENTICATED). */
const CALLER_FAULTS = new Set([3, 7, 16]);

/** gRPC's INVALID_ARGUMENT: the worker refuses what the stream asked of it (a language it does not know, say). */
const INVALID_ARGUMENT = 3;

export class RecognitionStream {
  readonly #o: RecognitionStreamOptions;
  readonly #retry: RetryPolicy;
  readonly #replay: PcmReplayBuffer;
  readonly #sendChunkSamples: number;
  /** Pushed but not yet written to the current call (batching). */
  readonly #unsent: PcmChunk[] = [];
  #unsentSamples = 0;
  readonly #log: Logger;
  #call: RecognizeCall | undefined;
  #worker: AsrWorker | undefined;
  #ready = false;
  /** The current call got a real answer to its audio (a segment or an ack), not only "ready". */
  #answered = false;
  /** The worker's failureCount when the current call opened (see AsrWorker.confirmServing). */
  #workerFailuresAtOpen = 0;
  #readyTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #attempt = 0;
  readonly #replayWindowMs: number;
  /** When the committed offset last moved (or the first audio came): a resume replays from there, so the ring must still hold it. */
  #committedAt = performance.now();
  #reconnecting = false;
  #reportedOverflow = 0;
  /** A full ring is dropping audio: counted as one error until a commit ends it. */
  #overflowing = false;
  /** Dropped samples not yet in a log line, and when the last line was written. */
  #unloggedDropSamples = 0;
  #overflowLoggedAt = Number.NEGATIVE_INFINITY;
  readonly #stallSamples: number;
  /** #pushedTo when the current call opened or last moved the committed offset: the watchdog counts from here. */
  #pushedAtProgress = 0;
  /** The current call's partials not yet replaced by a final, by segment id: taken as final if the end comes without them. */
  readonly #openPartials = new Map<number, Segment>();
  /** The current call's finals not yet acknowledged: a break before the ack leaves their audio uncommitted. */
  readonly #unackedFinals = new Map<number, Segment>();
  /** The call the open partials came from: a new call redoes all uncommitted audio, so its first segment replaces them. */
  #partialsFrom: RecognizeCall | undefined;
  /**
   * What earlier calls heard of the audio not yet committed (their open partials and unacked
   * finals), by segment id. The current call redoes that audio, but an end that times out while
   * it is still catching up must not take its shorter text over what was heard before.
   */
  readonly #heardByEarlierCalls = new Map<number, Segment>();
  /** Where the current call's last final ends (ms on the conversation clock). */
  #finalisedToMs = Number.NEGATIVE_INFINITY;
  #committed = 0;
  /** End (absolute samples) of the audio pushed so far. */
  #pushedTo = 0;
  /** End of the audio written to the current call. */
  #sentTo = 0;
  /**
   * Capture time (performance.now()) of the oldest audio pushed since a worker last
   * answered (a segment or an ack); undefined when everything pushed has been answered.
   */
  #unansweredSince: number | undefined;
  /** The current call's buffer is full: audio waits in the ring until 'drain'. */
  #backpressured = false;
  /** A first audio chunk arrived: the stream exists from then on. */
  #started = false;
  #reservation: SpeechReservation | undefined;
  /** Id of the last final received, acknowledged or not. */
  #lastFinalId = -1;
  /** The first segment id of a resumed stream: after the last acknowledged final. */
  #nextSegmentId = 0;
  #state: StreamState = StreamState.UNSPECIFIED;
  #ending: (() => void) | undefined;
  #closed = false;
  /** The end under way: end() twice must not send the worker a second end. */
  #endPromise: Promise<void> | undefined;

  constructor(options: RecognitionStreamOptions) {
    this.#o = options;
    this.#retry = options.retry ?? DEFAULT_ASR_RETRY;
    this.#replayWindowMs = (options.replaySeconds ?? 60) * 1000;
    this.#replay = new PcmReplayBuffer((options.replaySeconds ?? 60) * SAMPLE_RATE_HZ);
    this.#sendChunkSamples = ((options.sendChunkMs ?? 20) * SAMPLE_RATE_HZ) / 1000;
    this.#stallSamples = (options.stallSeconds ?? 30) * SAMPLE_RATE_HZ;
    this.#log = options.logger;
    this.#nextSegmentId = options.firstSegmentId ?? 0;
  }

  get state(): StreamState {
    return this.#state;
  }

  /**
   * How long the oldest audio pushed since a worker last answered (a segment or an
   * ack) has waited, in ms: 0 when all is answered, or once the stream is closed.
   * Grows while a worker is dead, stalled or being reconnected to. (A worker answers
   * silence only with commits: pocketsphinx every 5 s of it, Whisper every second.)
   */
  get unansweredMs(): number {
    if (this.#closed || this.#unansweredSince === undefined) return 0;
    return Math.max(0, performance.now() - this.#unansweredSince);
  }

  get workerAddress(): string | undefined {
    return this.#worker?.address;
  }

  /** Messages the current call holds, not yet sent (bounded: MAX_PENDING_WRITES and a few). */
  get bufferedWrites(): number {
    return this.#call?.writableLength ?? 0;
  }

  /** Whether a recogniser stream was ever opened (audio arrived). */
  get started(): boolean {
    return this.#started;
  }

  /**
   * The slot this conversation was admitted with: the first stream opens on
   * its worker and releases it. Replaces (and releases) an earlier one.
   */
  hold(reservation: SpeechReservation): void {
    this.#reservation?.release();
    if (this.#closed || this.#started) reservation.release();
    else this.#reservation = reservation;
  }

  /** Accepts the next contiguous PCM chunk (valid only during the call). */
  push(pcm: Int16Array, offsetSamples: number, capturedAtMs: number): void {
    if (this.#closed || this.#ending) return;
    if (!this.#started) {
      // The first audio: open the stream, starting with this chunk. The ring holds audio from now
      // on, so its window for resumes counts from here, not from when the conversation began.
      this.#started = true;
      this.#committedAt = performance.now();
      this.#pushedTo = offsetSamples;
      this.#open();
      if (this.#closed) return;
    }
    this.#unansweredSince ??= capturedAtMs;
    const queued = this.#replay.size;
    const chunk = this.#replay.push(pcm, offsetSamples, capturedAtMs);
    this.#pushedTo = offsetSamples + chunk.samples;
    // One more chunk, less any the full ring evicted (they leave the queue too).
    voiceProcessingQueueSize.inc(this.#replay.size - queued);
    if (this.#replay.overflowSamples !== this.#reportedOverflow) this.#reportOverflow();
    const call = this.#call;
    if (!call) return; // replayed from the ring once a stream is open
    // Audio time, not wall time: the media plane's timeline is gap-free and real time. One
    // comparison per frame; also covers a worker that stopped reading ('drain' never comes).
    if (this.#pushedTo - this.#pushedAtProgress >= this.#stallSamples) {
      this.#onBroken(call, new Error(`no commit for ${this.#stallSamples / SAMPLE_RATE_HZ} s of audio`));
      return;
    }
    if (this.#backpressured) return; // written from the ring on 'drain'
    if (this.#lostUnsent()) {
      this.#restartAfterDrop(call);
      return;
    }
    this.#unsent.push(chunk);
    this.#unsentSamples += chunk.samples;
    if (this.#unsentSamples >= this.#sendChunkSamples) this.#flushUnsent(call);
  }

  /**
   * No worker committed audio for replaySeconds: the oldest audio was dropped. Say so, once
   * per outage in the error count and at most every few seconds in the log.
   */
  #reportOverflow(): void {
    const dropped = this.#replay.overflowSamples - this.#reportedOverflow;
    this.#reportedOverflow = this.#replay.overflowSamples;
    asrAudioDropped.inc(dropped);
    if (!this.#overflowing) {
      this.#overflowing = true;
      voiceProcessingErrors.inc({ stage: "asr", reason: "replay_overflow" });
    }
    this.#unloggedDropSamples += dropped;
    const now = performance.now();
    if (now - this.#overflowLoggedAt >= OVERFLOW_LOG_INTERVAL_MS) this.#logOverflow(now);
  }

  #logOverflow(now: number): void {
    this.#log.error(
      { droppedSamples: this.#unloggedDropSamples, committed: this.#committed },
      "uncommitted audio dropped: replay buffer full",
    );
    this.#unloggedDropSamples = 0;
    this.#overflowLoggedAt = now;
  }

  /** The call's buffer drained: write what waited in the ring. */
  #onDrain(call: RecognizeCall): void {
    if (call !== this.#call || this.#closed) return;
    this.#backpressured = false;
    this.#unsent.length = 0;
    this.#unsentSamples = 0;
    if (this.#lostUnsent()) {
      this.#restartAfterDrop(call);
      return;
    }
    this.#writeRuns(call, [...this.#replay.chunks()], this.#sentTo);
  }

  /** Whether the ring overwrote audio the current call has not received. */
  #lostUnsent(): boolean {
    const first = this.#replay.firstOffset();
    return first !== undefined && first > this.#sentTo;
  }

  /**
   * The ring overwrote audio this call never received: the worker cannot get
   * it any more. Start a new stream right after the gap (counted above as
   * dropped); the worker itself is fine, only slow, so it is not marked down.
   */
  #restartAfterDrop(call: RecognizeCall): void {
    this.#log.warn(
      { sentTo: this.#sentTo, resumeAt: this.#replay.firstOffset() },
      "speech worker too slow: restarting after dropped audio",
    );
    if (call === this.#call) this.#dropCall()?.cancel();
    this.#open();
  }

  /** Writes the unsent chunks, one message per run that is contiguous in the ring. */
  #flushUnsent(call: RecognizeCall): void {
    const unsent = this.#unsent;
    if (unsent.length === 1) {
      // The per-frame case (ASR_CHUNK_MS=20): no run to assemble.
      const chunk = unsent[0]!;
      this.#writeAudio(call, this.#replay.view(chunk), chunk.offsetSamples, chunk.capturedAtMs);
    } else if (unsent.length > 1) {
      this.#writeRuns(call, unsent, 0);
    }
    unsent.length = 0;
    this.#unsentSamples = 0;
  }

  /**
   * Writes the chunks from `fromSample` on, one message per run; stops when
   * the call's buffer fills, unless `all` (the end: nothing more will come).
   */
  #writeRuns(call: RecognizeCall, chunks: PcmChunk[], fromSample: number, all = false): void {
    let first: PcmChunk | undefined;
    let last: PcmChunk | undefined;
    const write = () => {
      if (!first || !last) return;
      const from = Math.max(first.offsetSamples, fromSample);
      this.#writeAudio(call, this.#replay.viewRun(first, last, from), from, last.capturedAtMs);
    };
    for (const chunk of chunks) {
      if (chunk.offsetSamples + chunk.samples <= fromSample) continue;
      if (first && last && this.#replay.contiguous(last, chunk)) {
        last = chunk;
        continue;
      }
      write();
      if (this.#backpressured && !all) return; // the rest follows on 'drain'
      first = last = chunk;
    }
    write();
  }

  /** Finishes the stream: the worker finalises the last utterance. Resolves when it has; a second call waits for the first. */
  end(timeoutMs = 5_000): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#endPromise ??= this.#end(timeoutMs);
    return this.#endPromise;
  }

  #end(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#log.warn({ promotedPartials: this.#openPartials.size }, "speech worker did not finish in time");
        this.#promoteOpenPartials();
        this.close();
      }, timeoutMs);
      this.#ending = () => {
        clearTimeout(timer);
        resolve();
      };
      if (this.#call && this.#backpressured && this.#lostUnsent()) {
        // The ring overwrote audio this call never got, and a worker refuses a gap: the end goes
        // on a new stream that starts after it (#open sends the end after its replay).
        this.#restartAfterDrop(this.#call);
      } else if (this.#call) {
        if (this.#backpressured) {
          // The end must follow all the audio: what waits in the ring goes first.
          this.#unsent.length = 0;
          this.#unsentSamples = 0;
          this.#writeRuns(this.#call, [...this.#replay.chunks()], this.#sentTo, true);
        } else this.#flushUnsent(this.#call);
        this.#call.write(create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }));
        this.#call.end();
      } else if (!this.#reconnecting) {
        this.close();
      } // else: the pending reconnect replays the uncommitted audio, then sends the end
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reservation?.release();
    clearTimeout(this.#readyTimer);
    clearTimeout(this.#retryTimer);
    this.#dropCall()?.cancel();
    voiceProcessingQueueSize.dec(this.#replay.size);
    this.#flushOverflowLog();
    this.#setState(StreamState.ENDED, "closed");
    this.#ending?.();
  }

  /** Drops not yet logged (the interval cut them off) get their line before the stream goes. */
  #flushOverflowLog(): void {
    if (this.#unloggedDropSamples > 0) this.#logOverflow(performance.now());
  }

  /**
   * The stream is over without the worker's finals (it did not finish the end in time, or
   * failed): what it heard last stands as final under the same ids, published before
   * end() resolves, so the conversation's end scores and stores it.
   */
  #promoteOpenPartials(): void {
    for (const segment of this.#lastHeard()) this.#emitSegment({ ...segment, isFinal: true, speechFinal: true });
    this.#openPartials.clear();
    this.#heardByEarlierCalls.clear();
  }

  /**
   * The uncommitted audio's best transcript: the current call's open partials, or what earlier
   * calls heard of it where that reaches further into the audio (the current call was still
   * redoing it). Earlier segments over audio the current call has finalised are left out.
   */
  #lastHeard(): Segment[] {
    const earlier = [...this.#heardByEarlierCalls.values()].filter((s) => s.startMs >= this.#finalisedToMs);
    const current = [...this.#openPartials.values()];
    const reach = (segments: Segment[]) => Math.max(Number.NEGATIVE_INFINITY, ...segments.map((s) => s.endMs));
    return (reach(earlier) > reach(current) ? earlier : current).sort((a, b) => a.segmentId - b.segmentId);
  }

  #emitSegment(segment: Segment): void {
    try {
      this.#o.onSegment(segment);
    } catch (err) {
      this.#log.error({ err }, "segment listener threw");
    }
  }

  #open(): void {
    const language = this.#o.language;
    const worker = this.#o.pool.pick(this.#attempt > 0 ? this.#worker : undefined, this.#reservation?.worker, language);
    // The stream takes the reserved slot's place from here on.
    this.#reservation?.release();
    this.#reservation = undefined;
    if (!worker) {
      this.#fail(
        this.#o.pool.workers.length === 0 || !language
          ? "no speech worker configured"
          : `no speech worker recognises ${language}`,
      );
      return;
    }
    this.#worker = worker;
    this.#ready = false;
    this.#answered = false;
    this.#workerFailuresAtOpen = worker.failureCount;
    this.#backpressured = false;
    // An ack commits the finals of the call that sent it, not those of a call that broke before
    // acknowledging them: those are redone under the same ids by this one.
    this.#lastFinalId = -1;
    // Where this stream starts: the committed offset, or later when audio
    // after it was dropped (nothing before the ring's oldest chunk exists any more).
    const start = Math.max(this.#committed, this.#replay.firstOffset() ?? this.#pushedTo);
    this.#sentTo = start;
    this.#pushedAtProgress = this.#pushedTo; // a new call gets the whole stall allowance
    // The worker's address stays in the logs: the status goes to the customer and the business's wall.
    this.#log.debug({ worker: worker.address, attempt: this.#attempt }, "opening speech stream");
    this.#setState(this.#attempt === 0 ? StreamState.CONNECTING : StreamState.RECONNECTING, "");
    const call = worker.recognize(this.#o.maxSessionMs ?? 15 * 60_000);
    this.#call = call;
    worker.activeStreams++;
    asrStreams.inc({ worker: worker.address });
    call.on("data", (response: RecognizeResponse) => this.#onResponse(call, response));
    call.on("error", (error: Error & { code?: number }) => this.#onBroken(call, error));
    call.on("end", () => this.#onEnd(call));
    call.on("drain", () => this.#onDrain(call));
    call.write(
      create(RecognizeRequestSchema, {
        kind: {
          case: "config",
          value: {
            sessionId: this.#o.sessionId,
            sampleRateHz: SAMPLE_RATE_HZ,
            language: this.#o.language ?? "",
            startOffsetSamples: start,
            firstSegmentId: this.#nextSegmentId,
          },
        },
      }),
    );
    // Replay what the previous worker did not commit, then go on live.
    this.#unsent.length = 0;
    this.#unsentSamples = 0;
    this.#writeRuns(call, [...this.#replay.chunks()], start, this.#ending !== undefined);
    if (this.#ending) {
      call.write(create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }));
      call.end();
    }
    this.#readyTimer = setTimeout(() => {
      if (this.#call === call && !this.#ready)
        this.#onBroken(call, new Error(`no answer within ${this.#retry.timeoutMs} ms`));
    }, this.#retry.timeoutMs);
  }

  #writeAudio(call: RecognizeCall, pcm: Uint8Array, offsetSamples: number, capturedAtMs: number): void {
    // Encoded straight into the call's frame (one buffer): `pcm`, a view into
    // the replay ring, is copied once, and no message object is built.
    this.#sentTo = offsetSamples + pcm.byteLength / 2;
    call.writeAudio(offsetSamples, pcm, capturedAtMs);
    // 'drain' follows once the call's writes have gone out (write() returned false long before this).
    if (call.writableLength >= MAX_PENDING_WRITES) this.#backpressured = true;
  }

  #onResponse(call: RecognizeCall, response: RecognizeResponse): void {
    if (call !== this.#call) return;
    switch (response.kind.case) {
      case "ready":
        // The worker took the stream; that says nothing of its model (a hung one still sends
        // "ready"): the worker counts as serving, and the outage as over, at its first real answer.
        this.#ready = true;
        clearTimeout(this.#readyTimer);
        this.#setState(StreamState.LIVE, response.kind.value.engine);
        break;
      case "segment": {
        const segment = response.kind.value;
        this.#unansweredSince = undefined;
        this.#onAnswered();
        asrSegments.inc({ final: String(segment.isFinal) });
        this.#trackOpenPartials(call, segment);
        if (!segment.isFinal) this.#observePartialLag(segment);
        if (segment.isFinal) this.#lastFinalId = Math.max(this.#lastFinalId, segment.segmentId);
        this.#emitSegment(segment);
        break;
      }
      case "ack": {
        this.#unansweredSince = undefined;
        this.#onAnswered();
        const before = this.#replay.size;
        // A worker acknowledges a final right after sending it: every final so far is committed.
        this.#nextSegmentId = Math.max(this.#nextSegmentId, this.#lastFinalId + 1);
        if (call === this.#partialsFrom) this.#unackedFinals.clear();
        for (const id of this.#heardByEarlierCalls.keys())
          if (id < this.#nextSegmentId) this.#heardByEarlierCalls.delete(id);
        // A worker cannot have committed audio it was never sent: trusting it would drop that audio from the ring.
        const acked = response.kind.value.committedOffsetSamples;
        if (acked > this.#sentTo)
          this.#log.warn({ acked, sentTo: this.#sentTo }, "speech worker acknowledged audio it was not sent");
        const committed = Math.min(acked, this.#sentTo);
        if (committed > this.#committed) this.#onCommitProgress();
        this.#committed = Math.max(this.#committed, committed);
        this.#replay.commit(this.#committed);
        voiceProcessingQueueSize.dec(before - this.#replay.size);
        break;
      }
      default:
        break;
    }
  }

  /** The current call's first segment or ack: its worker serves (back in rotation), and the outage is over. */
  #onAnswered(): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#attempt = 0;
    this.#worker?.confirmServing(this.#workerFailuresAtOpen);
  }

  /** The committed offset moved: the call is alive, and any overflow outage is over. */
  #onCommitProgress(): void {
    this.#committedAt = performance.now();
    this.#pushedAtProgress = this.#pushedTo;
    this.#overflowing = false;
  }

  /** A worker finalises in order: a final closes its own partial and any earlier one left open. */
  #trackOpenPartials(call: RecognizeCall, segment: Segment): void {
    if (this.#partialsFrom !== call) {
      // The previous call broke: keep what it heard (the fuller of it, over several breaks) for an end that times out.
      for (const heard of [...this.#openPartials.values(), ...this.#unackedFinals.values()]) {
        const before = this.#heardByEarlierCalls.get(heard.segmentId);
        if (!before || heard.endMs >= before.endMs) this.#heardByEarlierCalls.set(heard.segmentId, heard);
      }
      this.#openPartials.clear();
      this.#unackedFinals.clear();
      this.#finalisedToMs = Number.NEGATIVE_INFINITY;
      this.#partialsFrom = call;
    }
    if (!segment.isFinal) {
      this.#openPartials.set(segment.segmentId, segment);
      return;
    }
    this.#unackedFinals.set(segment.segmentId, segment);
    this.#finalisedToMs = Math.max(this.#finalisedToMs, segment.endMs);
    for (const id of this.#openPartials.keys()) if (id <= segment.segmentId) this.#openPartials.delete(id);
  }

  /**
   * Partial lag: how long after the audio at the partial's end (end_ms on the
   * conversation clock) was captured the partial reached the bridge. The
   * capture time comes from our own replay ring (a partial covers audio not
   * yet committed), else from the worker's echo of captured_at_ms.
   */
  #observePartialLag(segment: Segment): void {
    const capturedAt = this.#replay.capturedAtEnd((segment.endMs * SAMPLE_RATE_HZ) / 1000) ?? segment.capturedAtMs;
    if (capturedAt > 0) asrPartialLag.observe(Math.max(0, performance.now() - capturedAt) / 1000);
  }

  #onEnd(call: RecognizeCall): void {
    if (call !== this.#call) return;
    if (this.#ending) {
      this.#dropCall();
      this.close();
      return;
    }
    this.#onBroken(call, new Error("speech worker ended the stream"));
  }

  #onBroken(call: RecognizeCall, error: Error & { code?: number }): void {
    if (call !== this.#call || this.#closed) return;
    const worker = this.#worker;
    this.#dropCall()?.cancel();
    // A worker that refused what this stream sent, or its token, is not down: marking it so
    // would let one bad stream keep every worker out of everyone's admission.
    if (worker && !CALLER_FAULTS.has(error.code ?? -1)) this.#o.pool.reportFailure(worker, error, this.#o.sessionId);
    // One error per outage, not one per attempt: a worker's 30 s restart must not read as 16 failures.
    if (this.#attempt === 0) {
      voiceProcessingErrors.inc({ stage: "asr", reason: error.code === undefined ? "timeout" : String(error.code) });
    }
    if (error.code === INVALID_ARGUMENT) {
      // The worker refused the stream itself (its config: a language it does not recognise, a
      // sample rate): sent again, it would be refused again, every 2 s while the customer talks
      // to a "reconnecting" notice. Not an outage to wait out: the conversation is told now, as
      // when a worker is gone for good (FAILED: the conversation ends, SPEECH_LOST, keeping what was said). The
      // log line names the cause; the session's logger adds its sessionId.
      this.#fail("speech recognition cannot serve this conversation", error, {
        cause: "speech worker refused the stream's config; not retried",
        worker: worker?.address,
        language: this.#o.language ?? "",
      });
      return;
    }
    const delay = backoffMs(this.#retry, this.#attempt);
    // Attempts against a worker that hangs take their whole timeout each: no attempt starts once
    // the replay ring (audio arrives in real time) may have dropped what was said since the last
    // commit, where a resume starts (it would lose that audio).
    const withinRing = performance.now() - this.#committedAt + delay < this.#replayWindowMs;
    if (this.#attempt >= this.#retry.maxRetry || !withinRing) {
      voiceProcessingErrors.inc({ stage: "asr", reason: "gave_up" });
      this.#fail("speech recognition unavailable", error);
      return;
    }
    this.#attempt++;
    asrReconnects.inc();
    this.#log.warn(
      { err: error, attempt: this.#attempt, delayMs: delay, committed: this.#committed },
      "speech stream broke; resuming",
    );
    this.#setState(StreamState.RECONNECTING, ""); // the cause is in the warning above, not for customers
    this.#reconnecting = true;
    this.#retryTimer = setTimeout(() => {
      this.#reconnecting = false;
      if (!this.#closed) this.#open();
    }, delay);
  }

  /** Detaches the current call (without cancelling it) and returns it. */
  #dropCall(): RecognizeCall | undefined {
    const call = this.#call;
    if (!call) return undefined;
    this.#call = undefined;
    clearTimeout(this.#readyTimer);
    call.removeAllListeners("data");
    call.removeAllListeners("end");
    call.removeAllListeners("error");
    call.removeAllListeners("drain");
    call.on("error", () => {}); // a cancelled call still emits CANCELLED
    if (this.#worker) {
      this.#worker.activeStreams--;
      asrStreams.dec({ worker: this.#worker.address });
    }
    return call;
  }

  /**
   * `detail` is shown to the customer and the wall; `err` and `context`, with internals
   * (addresses, transport errors), only logged.
   */
  #fail(detail: string, err?: Error, context: Record<string, unknown> = {}): void {
    this.#reservation?.release();
    this.#log.error({ detail, ...context, ...(err ? { err } : {}) }, "speech recognition failed");
    this.#promoteOpenPartials(); // nothing will finalise them now
    this.#setState(StreamState.FAILED, detail);
    this.#closed = true;
    this.#dropCall()?.cancel();
    voiceProcessingQueueSize.dec(this.#replay.size);
    this.#flushOverflowLog();
    this.#ending?.();
  }

  #setState(state: StreamState, detail: string): void {
    if (state === this.#state) return;
    this.#state = state;
    try {
      this.#o.onState(state, detail);
    } catch (err) {
      this.#log.error({ err }, "state listener threw");
    }
  }
}
