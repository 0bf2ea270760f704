// One simulated customer: creates a session, joins, brings WebRTC up, replays
// a recording at real-time pace, listens to the live events like the app
// (and sets its media up again when the node moves it), then ends the session
// and closes everything it opened. It times every stage and every event
// against the audio that caused it.
import { EndReason, StreamState } from "@parley/proto/live";
import type { ServerMessage } from "@parley/proto/ws";
import type { LoadRecording } from "../audio/Recording.ts";
import { SessionRefused } from "../ProtocolClient.ts";
import { IceTimeout, JoinFailed, type JoinStage, type ReceiverReport, type WeriftCustomer } from "../WeriftCustomer.ts";
import { type HeardFinal, heardHypothesis, normalizeWords, wordErrors } from "../wer.ts";
import type { PacedStream, Pacer } from "./Pacer.ts";

/** In a pause, a browser with Opus DTX sends one packet every 400 ms (20 frames); sendOpus sends nothing for an empty one. */
const DTX_FRAMES = 20;
const DTX_FRAME = Buffer.alloc(0);

/** Ends the conversation decides for itself (the customer, the AI, the limits, an admin); any other is the node losing it. */
const CONVERSATION_ENDS: ReadonlySet<EndReason> = new Set([
  EndReason.CUSTOMER,
  EndReason.MAX_TURNS,
  EndReason.SILENCE,
  EndReason.NOTHING_LEFT_TO_ASK,
  EndReason.MAX_DURATION,
  EndReason.ENDED_BY_ADMIN,
]);

/** What a session needs of its customer: a WeriftCustomer, or a stand-in in tests. */
export type LoadCustomer = Pick<
  WeriftCustomer,
  | "socket"
  | "packetsSent"
  | "nextSequence"
  | "sendOpus"
  | "onReceiverReport"
  | "roundTripMs"
  | "reconnectMedia"
  | "close"
>;

/** Brings a customer up: creates its session, joins, connects its media; reports each stage as it completes. */
export type ConnectCustomer = (onStage: (stage: JoinStage, sessionId: string) => void) => Promise<LoadCustomer>;

/** What a session tells the progress display about. */
export type Activity = "connected" | "partial" | "final" | "score" | "mediaReset" | "error" | "ended";

/** Where in a session's life an error happened. */
export type ErrorStage = "create" | "join" | "signal" | "ice_dtls" | "audio" | "speech" | "events" | "end";

export interface SessionError {
  stage: ErrorStage;
  kind: string;
  message: string;
  /** ms since the run started. */
  atMs: number;
}

/** A latency sample: when (ms since the run started) and how long (ms). */
export type Sample = [atMs: number, valueMs: number];

export interface SessionResult {
  slot: number;
  sessionId: string | undefined;
  recording: string;
  startedAtMs: number;
  endedAtMs: number;
  /** Why it ended: "completed" (played once), "stopped" (duration or Ctrl-C), "server:<REASON>", "failed". */
  outcome: string;
  connected: boolean;
  /**
   * Stage durations, ms: session created, socket joined (from created), signalled, ICE+DTLS, first audio
   * acknowledged (by mediasoup's next RTCP receiver report: its timer, not the node, bounds it).
   */
  stages: {
    created: number | null;
    socket: number | null;
    signalled: number | null;
    iceDtls: number | null;
    firstAudioAck: number | null;
    join: number | null;
  };
  firstPartial: Sample | null;
  partialLag: Sample[];
  finalLag: Sample[];
  scoreLag: Sample[];
  partials: number;
  finals: number;
  scores: number;
  /** Speech stream reconnects the node reported (its speech worker's, not our media's). */
  reconnects: number;
  /**
   * Times the node moved the session's media (MediaReset: its media worker
   * died, or our transport failed) and we set ours up again. From the first,
   * no latency sample is taken: the audio lost in the move and the silence
   * the node puts in its place shift its audio clock against ours.
   */
  mediaResets: number;
  audioSentMs: number;
  wer: { errors: number; words: number; hypothesis: string } | null;
  packets: {
    sent: number;
    /** Packets the SFU's receiver reports counted lost, over every media the session had. */
    lost: number | null;
    /**
     * Packets sent into media the node then lost (MediaReset) after the last
     * receiver report of that media: no report will say whether they arrived.
     * Some did (before its worker died or its transport failed), some did not:
     * counted neither lost nor received.
     */
    unconfirmed: number;
    fractionLost: number | null;
    jitterMs: number | null;
    rttMs: number | null;
  };
  jitter: Sample[];
  rtt: Sample[];
  errors: SessionError[];
}

export interface LoadSessionOptions {
  slot: number;
  connect: ConnectCustomer;
  recording: LoadRecording;
  loop: boolean;
  pacer: Pacer;
  /** performance.now() of the run's start: every sample's time is relative to it. */
  runStartMs: number;
  /** One 20 ms Opus packet of silence: played after the recording so that the endpointer closes the utterance. */
  silence: Buffer;
  tailSilenceMs: number;
  /** Send that silence as the app's browser does with Opus DTX: one packet per 400 ms, nothing between. */
  dtx: boolean;
  /** How long the node may take to finalise when the session ends. */
  endTimeoutMs: number;
  /** Something happened that the progress display counts. */
  onActivity?: (what: Activity) => void;
}

export class LoadSession implements PacedStream {
  readonly #o: LoadSessionOptions;
  readonly #result: SessionResult;
  #customer: LoadCustomer | undefined;
  /** performance.now() at which each packet went out (index = packet number in this session). */
  #sentAt: number[] = [];
  #packet = 0;
  #loops = 0;
  /** 20 ms frames of silence after the recording, and how many of them are still to go. */
  readonly #tailFrames: number;
  #tailLeft = 0;
  #nextDue = Number.POSITIVE_INFINITY;
  #firstSentAt = 0;
  #playing: { resolve: () => void } | undefined;
  #stopRequested: "graceful" | "abort" | undefined;
  #stopSignal: () => void = () => {};
  #serverEnded: EndReason | undefined;
  /** The socket closed under a session still playing (not by us, not after the node's end). */
  #socketLost = false;
  #closeCounted = false;
  readonly #finals = new Map<number, HeardFinal>();
  /** Finals waiting for a score that covers them: segment id → when their speech was sent. */
  readonly #unscored: { segmentId: number; speechSentAt: number }[] = [];
  #unsubscribeRr: (() => void) | undefined;
  /** Packets the receiver reports of earlier media counted lost, and those of the current media. */
  #lostBefore = 0;
  #lostNow = 0;
  /** The current media: the customer's packetsSent when it came up, and the highest sequence number its reports covered. */
  #mediaSentFrom = 0;
  #mediaReportedTo: number | undefined;
  /** A media reconnect under way; `again`: the node moved the media once more meanwhile. */
  #mediaReset: { again: boolean } | undefined;
  /** The node moved our media at least once: its audio clock no longer matches what we sent. */
  #mediaMoved = false;
  /** Setting the media up again failed: nothing more can be sent. */
  #mediaFailed = false;
  #finished = false;
  #engine = "";

  constructor(options: LoadSessionOptions) {
    this.#o = options;
    this.#tailFrames = Math.ceil(options.tailSilenceMs / 20);
    this.#result = {
      slot: options.slot,
      sessionId: undefined,
      recording: options.recording.id,
      startedAtMs: 0,
      endedAtMs: 0,
      outcome: "failed",
      connected: false,
      stages: { created: null, socket: null, signalled: null, iceDtls: null, firstAudioAck: null, join: null },
      firstPartial: null,
      partialLag: [],
      finalLag: [],
      scoreLag: [],
      partials: 0,
      finals: 0,
      scores: 0,
      reconnects: 0,
      mediaResets: 0,
      audioSentMs: 0,
      wer: null,
      packets: { sent: 0, lost: null, unconfirmed: 0, fractionLost: null, jitterMs: null, rttMs: null },
      jitter: [],
      rtt: [],
      errors: [],
    };
  }

  get nextDueMs(): number {
    return this.#nextDue;
  }

  get sessionId(): string | undefined {
    return this.#result.sessionId;
  }

  /** The run is over (duration reached, or Ctrl-C): end the session; "abort" skips waiting for the node. */
  stop(mode: "graceful" | "abort"): void {
    if (this.#stopRequested === "abort") return;
    this.#stopRequested = mode;
    this.#stopSignal();
  }

  async run(): Promise<SessionResult> {
    const r = this.#result;
    const t0 = performance.now();
    r.startedAtMs = t0 - this.#o.runStartMs;
    let last = t0;
    const stageTimes: Partial<Record<JoinStage, number>> = {};
    try {
      this.#customer = await this.#interruptible(
        this.#o.connect((stage, sessionId) => {
          const now = performance.now();
          stageTimes[stage] = now;
          r.sessionId = sessionId;
          const took = now - last;
          last = now;
          if (stage === "created") r.stages.created = took;
          else if (stage === "joined") r.stages.socket = took;
          else if (stage === "signalled") r.stages.signalled = took;
          else r.stages.iceDtls = took;
        }),
        (customer) => void customer.close(),
      );
    } catch (error) {
      if (!(error instanceof Stopped)) this.#error(joinStage(error, stageTimes), error);
      return this.#finish(this.#stopRequested ? "stopped" : "failed");
    }
    const customer = this.#customer;
    r.connected = true;
    r.stages.join = performance.now() - t0;
    this.#o.onActivity?.("connected");
    // Before the first messages are read: one of them may move the media, which re-subscribes.
    this.#listenToReports(customer);
    customer.socket.ws.on("message", () => this.#drainMessages());
    this.#drainMessages();

    // Play until done (once), stopped, or the node ended the conversation.
    if (!this.#stopRequested && this.#serverEnded === undefined) {
      await new Promise<void>((resolve) => {
        this.#playing = { resolve };
        this.#stopSignal = () => this.#endPlayback();
        this.#resumePlayback();
      });
    }
    this.#o.pacer.remove(this);

    let outcome = this.#mediaFailed ? "failed" : this.#stopRequested ? "stopped" : "completed";
    if (this.#serverEnded !== undefined) {
      const reason = EndReason[this.#serverEnded] ?? String(this.#serverEnded);
      outcome = `server:${reason}`;
      // The conversation's own ends are not failures; the node losing the session is.
      if (!CONVERSATION_ENDS.has(this.#serverEnded))
        this.#error("events", new TypedError(`server_${reason}`, `the node ended the session: ${reason}`));
    } else if (this.#stopRequested !== "abort" && !customer.socket.closed) {
      // A second Ctrl-C does not wait for the node's answer.
      const aborted = new Promise<void>((resolve) => {
        this.#stopSignal = () => {
          if (this.#stopRequested === "abort") resolve();
        };
      });
      await Promise.race([this.#endSession(customer), aborted]);
    }
    this.#drainMessages();
    if (this.#socketLost && this.#serverEnded === undefined) {
      this.#closedError(customer);
      outcome = "failed";
    }
    this.#checkSpeech();
    return this.#finish(outcome);
  }

  // -- playback -----------------------------------------------------------

  sendDue(sentAt: number): void {
    const customer = this.#customer;
    if (!customer || customer.socket.closed) {
      this.#socketLost = true;
      this.#endPlayback();
      return;
    }
    const rec = this.#o.recording;
    if (this.#packet >= rec.packets.length) {
      if (this.#o.loop) {
        this.#packet = 0;
        this.#loops++;
      } else if (this.#tailLeft === 0) {
        this.#tailLeft = this.#tailFrames;
      }
    }
    let payload: Buffer;
    let frames: number;
    if (this.#packet < rec.packets.length) {
      payload = rec.packets[this.#packet]!;
      frames = (rec.startsMs[this.#packet + 1]! - rec.startsMs[this.#packet]!) / 20;
      this.#packet++;
    } else {
      const tailFrame = this.#tailFrames - this.#tailLeft;
      payload = !this.#o.dtx || tailFrame % DTX_FRAMES === 0 ? this.#o.silence : DTX_FRAME;
      frames = 1;
      if (--this.#tailLeft === 0) this.#packet = Number.POSITIVE_INFINITY;
    }
    if (this.#sentAt.length === 0) this.#firstSentAt = sentAt;
    this.#sentAt.push(sentAt);
    try {
      customer.sendOpus(payload, frames);
    } catch (error) {
      this.#error("audio", error);
      this.#endPlayback();
      return;
    }
    this.#result.packets.sent = customer.packetsSent;
    this.#result.audioSentMs += frames * 20;
    this.#nextDue += frames * 20;
    if (this.#packet === Number.POSITIVE_INFINITY) this.#endPlayback();
  }

  #endPlayback(): void {
    this.#pausePlayback();
    const playing = this.#playing;
    this.#playing = undefined;
    playing?.resolve();
  }

  /** No packet goes out until #resumePlayback (the media is being set up again). */
  #pausePlayback(): void {
    this.#nextDue = Number.POSITIVE_INFINITY;
    this.#o.pacer.remove(this);
  }

  /** Sends from the next packet on, starting now: still playing, and not while media is being set up. */
  #resumePlayback(): void {
    if (!this.#playing || this.#mediaReset) return;
    this.#nextDue = performance.now();
    this.#o.pacer.add(this);
  }

  /**
   * When the packet holding conversation time `ms` went out (the audio's
   * "spoken" moment); undefined before any, and once the node has moved our
   * media (its clock then runs apart from ours by audio lost in the move).
   */
  #sentAtAudio(ms: number): number | undefined {
    const rec = this.#o.recording;
    const sent = this.#sentAt;
    if (sent.length === 0 || this.#mediaMoved) return undefined;
    const loop = Math.floor(ms / rec.durationMs);
    const within = ms - loop * rec.durationMs;
    let index: number;
    if (!this.#o.loop && loop >= 1) {
      index = rec.packets.length + Math.floor((ms - rec.durationMs) / 20); // tail silence
    } else {
      // First packet whose end reaches `within`.
      let lo = 0;
      let hi = rec.packets.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (rec.startsMs[mid + 1]! < within) lo = mid + 1;
        else hi = mid;
      }
      index = loop * rec.packets.length + lo;
    }
    return sent[Math.min(Math.max(0, index), sent.length - 1)];
  }

  // -- live events ----------------------------------------------------------

  /** Reads the socket's new messages, which it then forgets: a looped session lives for hours. */
  #drainMessages(): void {
    const socket = this.#customer?.socket;
    if (!socket) return;
    for (const { message, arrivedAt } of socket.take()) this.#onMessage(message, arrivedAt);
  }

  #onMessage(message: ServerMessage, arrivedAt: number): void {
    if (message.kind.case !== "event") return;
    const event = message.kind.value.kind;
    const r = this.#result;
    const at = arrivedAt - this.#o.runStartMs;
    switch (event.case) {
      case "transcript": {
        const t = event.value;
        if (!t.isFinal) {
          if (!t.text) return;
          r.partials++;
          this.#o.onActivity?.("partial");
          const sent = t.endMs > 0 ? this.#sentAtAudio(t.endMs) : undefined;
          if (sent !== undefined) r.partialLag.push([at, arrivedAt - sent]);
          if (!r.firstPartial && this.#firstSentAt) {
            const onsetSent = this.#sentAtAudio(this.#o.recording.speechOnsetMs);
            if (onsetSent !== undefined && arrivedAt >= onsetSent) r.firstPartial = [at, arrivedAt - onsetSent];
          }
          return;
        }
        r.finals++;
        this.#o.onActivity?.("final");
        this.#finals.set(t.segmentId, {
          segmentId: t.segmentId,
          text: t.text,
          startMs: t.startMs,
          words: t.words.map((w) => ({ text: w.text, startMs: w.startMs })),
        });
        const speechEnd = t.words.length > 0 ? t.words[t.words.length - 1]!.endMs : t.endMs;
        const sent = speechEnd > 0 ? this.#sentAtAudio(speechEnd) : undefined;
        if (sent !== undefined) {
          r.finalLag.push([at, arrivedAt - sent]);
          if (t.text) this.#unscored.push({ segmentId: t.segmentId, speechSentAt: sent });
        }
        return;
      }
      case "score": {
        r.scores++;
        this.#o.onActivity?.("score");
        const through = event.value.throughSegmentId;
        while (this.#unscored.length > 0 && this.#unscored[0]!.segmentId <= through) {
          const f = this.#unscored.shift()!;
          r.scoreLag.push([at, arrivedAt - f.speechSentAt]);
        }
        return;
      }
      case "status": {
        const { state, detail } = event.value;
        if (state === StreamState.LIVE) this.#engine = detail; // the speech worker names its engine
        if (state === StreamState.RECONNECTING) r.reconnects++;
        if (state === StreamState.FAILED) this.#error("speech", new TypedError("stream_failed", detail));
        return;
      }
      case "conversationEnded":
        this.#serverEnded ??= event.value.reason;
        if (!this.#stopRequested) this.#endPlayback();
        return;
      case "mediaReset":
        void this.#onMediaReset();
        return;
      default:
        return;
    }
  }

  // -- media moved ------------------------------------------------------------

  /**
   * The node moved the session's media to another worker: set the send
   * transport up again on the same socket, as the app does. Nothing is sent
   * meanwhile (there is no transport to take it); a reset during the setup
   * means once more after it.
   */
  async #onMediaReset(): Promise<void> {
    const customer = this.#customer;
    if (!customer || this.#finished) return;
    this.#result.mediaResets++;
    this.#mediaMoved = true;
    this.#o.onActivity?.("mediaReset");
    if (this.#mediaReset) {
      this.#mediaReset.again = true;
      return;
    }
    // The media is gone whether or not it is set up again (a session ending still counts what it sent into it).
    this.#stopListeningToReports(customer);
    if (!this.#wantsMedia(customer)) return;
    const reset = { again: false };
    this.#mediaReset = reset;
    this.#pausePlayback();
    try {
      do {
        reset.again = false;
        this.#stopListeningToReports(customer);
        await customer.reconnectMedia();
        this.#listenToReports(customer);
      } while (reset.again && this.#wantsMedia(customer));
    } catch (error) {
      // A closed socket is counted once, as the socket's close.
      if (customer.socket.closed) this.#socketLost = true;
      else if (this.#wantsMedia(customer)) {
        this.#error(error instanceof IceTimeout ? "ice_dtls" : "signal", error, "setting media up again");
        this.#mediaFailed = true;
      }
      this.#endPlayback();
    } finally {
      this.#mediaReset = undefined;
    }
    this.#resumePlayback();
  }

  /** The session still plays: not stopped, not ended by the node, its socket open. */
  #wantsMedia(customer: LoadCustomer): boolean {
    return !this.#stopRequested && this.#serverEnded === undefined && !customer.socket.closed && !this.#finished;
  }

  #listenToReports(customer: LoadCustomer): void {
    this.#unsubscribeRr = customer.onReceiverReport((report) => this.#onReceiverReport(report));
  }

  /**
   * The current media is gone: what its reports counted lost stays counted,
   * and the packets sent into it after its last report (all, without one) are
   * unconfirmed; the next media's count from 0. Called again with nothing
   * sent since, it counts nothing more.
   */
  #stopListeningToReports(customer: LoadCustomer): void {
    this.#unsubscribeRr?.();
    this.#unsubscribeRr = undefined;
    this.#lostBefore += this.#lostNow;
    this.#lostNow = 0;
    const sent = customer.packetsSent - this.#mediaSentFrom;
    const reportedTo = this.#mediaReportedTo;
    // Sequence numbers are 16 bits; a report comes every few seconds, far fewer packets than a wrap.
    const lastSent = (customer.nextSequence - 1) & 0xffff;
    const after = reportedTo === undefined ? sent : (lastSent - reportedTo) & 0xffff;
    this.#result.packets.unconfirmed += Math.min(sent, after);
    this.#mediaSentFrom = customer.packetsSent;
    this.#mediaReportedTo = undefined;
  }

  #onReceiverReport(report: ReceiverReport): void {
    const r = this.#result;
    const now = performance.now();
    if (r.stages.firstAudioAck === null && this.#firstSentAt) r.stages.firstAudioAck = now - this.#firstSentAt;
    this.#lostNow = report.packetsLost;
    this.#mediaReportedTo = report.highestSequence & 0xffff;
    r.packets.lost = this.#lostBefore + report.packetsLost;
    r.packets.fractionLost = report.fractionLost;
    r.packets.jitterMs = report.jitterMs;
    r.jitter.push([now - this.#o.runStartMs, report.jitterMs]);
    void this.#customer?.roundTripMs().then((rtt) => {
      if (rtt === undefined) return;
      r.packets.rttMs = rtt;
      r.rtt.push([performance.now() - this.#o.runStartMs, rtt]);
    });
  }

  // -- the end ----------------------------------------------------------------

  async #endSession(customer: LoadCustomer): Promise<void> {
    try {
      const ended = await withTimeout(
        customer.socket.request({ case: "endSession", value: {} }, this.#o.endTimeoutMs + 1_000),
        this.#o.endTimeoutMs,
        "end_timeout",
      );
      if (ended.case !== "sessionEnded")
        throw new JoinFailed("endSession", ended.case === "error" ? ended.value : undefined);
    } catch (error) {
      // After a second Ctrl-C nobody waits for this answer: its failure is the abort's, not the node's.
      if (this.#stopRequested !== "abort") this.#error("end", error);
    }
  }

  #checkSpeech(): void {
    const r = this.#result;
    if (!r.connected || this.#stopRequested === "abort") return;
    const rec = this.#o.recording;
    const heardSpeech = r.audioSentMs >= rec.speechEndMs && rec.speechEndMs > rec.speechOnsetMs;
    if (heardSpeech && r.partials === 0) this.#error("speech", new TypedError("no_partial", "no partial transcript"));
    if (heardSpeech && this.#finals.size === 0)
      this.#error("speech", new TypedError("no_final", "no final transcript"));
    // The benchmark's latency probe transcribes nothing: a WER of its text would be noise.
    if (rec.reference !== undefined && this.#finals.size > 0 && this.#engine !== "latency-probe") {
      // Played once: judged only when the whole recording went out (a play cut short would count its unsent words as deletions).
      const plays = this.#o.loop
        ? this.#loops + (this.#packet >= rec.packets.length ? 1 : 0)
        : this.#packet >= rec.packets.length
          ? 1
          : 0;
      // Looped: judge only the plays that were heard whole, words of a play cut short left out.
      const hypothesis = heardHypothesis(this.#finals.values(), this.#o.loop ? plays * rec.durationMs : undefined);
      if (plays >= 1) {
        const reference = Array.from({ length: plays }, () => normalizeWords(rec.reference!)).flat();
        const hyp = normalizeWords(hypothesis);
        r.wer = { errors: wordErrors(reference, hyp), words: reference.length, hypothesis };
      }
    }
  }

  async #finish(outcome: string): Promise<SessionResult> {
    const r = this.#result;
    this.#finished = true;
    this.#o.pacer.remove(this);
    this.#unsubscribeRr?.();
    const customer = this.#customer;
    if (customer) {
      if (customer.socket.closed && outcome !== "stopped" && this.#serverEnded === undefined && !this.#closeCounted)
        this.#closedError(customer);
      r.packets.sent = customer.packetsSent;
      await customer.close().catch(() => {});
    }
    r.outcome = r.connected ? outcome : "failed";
    r.endedAtMs = performance.now() - this.#o.runStartMs;
    this.#o.onActivity?.("ended");
    return r;
  }

  /** The socket closed without the node ending the conversation: counted once, as what closed it. */
  #closedError(customer: LoadCustomer): void {
    const closed = customer.socket.closed;
    if (!closed || this.#closeCounted) return;
    this.#closeCounted = true;
    this.#error("events", new TypedError(`ws_close_${closed.code}`, closed.reason));
  }

  /** `doing`: what the session was at, when the stage alone does not say (setting media up again after a reset). */
  #error(stage: ErrorStage, error: unknown, doing?: string): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#result.errors.push({
      stage,
      kind: errorKind(error),
      message: doing ? `${doing}: ${message}` : message,
      atMs: performance.now() - this.#o.runStartMs,
    });
    this.#o.onActivity?.("error");
  }

  /** Races `work` against a stop request; whatever it yields after a stop is disposed of. */
  #interruptible<T>(work: Promise<T>, dispose: (value: T) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      this.#stopSignal = () => {
        if (this.#stopRequested !== "abort" || done) return;
        done = true;
        reject(new Stopped());
      };
      work.then(
        (value) => {
          if (done) dispose(value);
          else resolve(value);
          done = true;
        },
        (error) => {
          if (!done) reject(error);
          done = true;
        },
      );
    });
  }
}

/** An error with a kind of our own (no partial, stream failed, ...). */
export class TypedError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

class Stopped extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number, kind: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new TypedError(kind, `no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function joinStage(error: unknown, reached: Partial<Record<JoinStage, number>>): ErrorStage {
  if (error instanceof IceTimeout) return "ice_dtls";
  if (error instanceof JoinFailed) return error.request === "join" ? "join" : "signal";
  if (!reached.created) return "create";
  if (!reached.joined) return "join";
  if (!reached.signalled) return "signal";
  return "ice_dtls";
}

/** A short, countable name for an error: an HTTP status, a protocol error code, a socket error. */
export function errorKind(error: unknown): string {
  if (error instanceof TypedError) return error.kind;
  if (error instanceof SessionRefused) return `http_${error.status}`;
  if (error instanceof JoinFailed) return error.code;
  if (error instanceof IceTimeout) return "timeout";
  if ((error as Error | undefined)?.name === "TimeoutError") return "timeout"; // AbortSignal.timeout
  const e = error as { code?: unknown; cause?: { code?: unknown }; message?: unknown };
  if (typeof e?.cause?.code === "string") return e.cause.code;
  if (typeof e?.code === "string") return e.code;
  if (typeof e?.message === "string" && /socket closed/.test(e.message)) return "socket_closed";
  if (typeof e?.message === "string" && /timed out/.test(e.message)) return "timeout";
  return "other";
}
