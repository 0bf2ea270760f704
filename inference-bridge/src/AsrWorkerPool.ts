// The speech-recognition workers this node may use. Streams go to the
// healthy worker with the fewest active streams. Healthy means: it answered
// the last GetWorkerInfo (a worker whose engine is stuck answers UNAVAILABLE),
// the lag it reports there is under `maxLagMs`, and it is not sitting out a
// broken stream.
//
// Sitting out: a worker whose stream broke (a transport error, or a stream it
// took but stopped answering: RecognitionStream's stall watchdog) is kept out
// of placements for `downForMs`, doubled for each further incident up to
// `maxDownForMs`, until a stream opened on it after its last failure gets a
// real answer (a segment or an ack). A stream's "ready" is no such answer: a
// worker whose model hangs still accepts streams, and it shed its own streams
// so it looked the freest; each "ready" used to put it back in rotation.
//
// Transport: the per-frame audio stream (Recognize) goes over a thin HTTP/2
// client of our own (grpc/Http2RecognizeCall: the same gRPC wire protocol
// at about half grpc-js's CPU per message); the unary GetWorkerInfo stays on
// grpc-js. Both carry the same TLS settings and authorization header.
//
// Capacity: each worker says how many streams it takes (GetWorkerInfo,
// asked at most once per second and shared by /ready and admission). A new
// conversation is admitted only while some worker has a free slot counting
// this node's streams, its reservations (admitted conversations whose audio
// has not started yet) and the streams other nodes had open at the last probe.
//
// Languages: each worker also says which languages it recognises
// (WorkerInfo.languages). A conversation goes only to a worker that speaks its
// store's language, and capacity is counted per language: the free slots of
// the workers that speak it. Tags match as the worker matches them
// (parley_asr/session.py pick_language): by primary language, so "sv-SE" is
// served by a worker that lists "sv" or "sv-FI", and "en-GB" by "en-US".

import type { MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { type GetWorkerInfoRequest, SpeechRecognizer, type WorkerInfoSchema } from "@parley/proto/asr";
import { grpcServiceDefinition } from "@parley/proto/grpc";
import type { Logger } from "pino";
import { Http2GrpcChannel } from "./grpc/Http2GrpcChannel.ts";
import { Http2RecognizeCall } from "./grpc/Http2RecognizeCall.ts";
import { asrAdmissions, asrWorkerCapacity, asrWorkerMarkedDown, asrWorkerProbes } from "./metrics.ts";
import { SpeechReservation } from "./SpeechReservation.ts";

type WorkerInfo = MessageShape<typeof WorkerInfoSchema>;

/** How the node reaches its speech workers. */
export interface AsrChannelOptions {
  /** TLS (PEM bytes); absent: plaintext, for loopback or a private network. */
  tls?: { rootCerts?: Buffer; privateKey?: Buffer; certChain?: Buffer; serverName?: string };
  /** Sent as `authorization: Bearer <token>` on every call (ASR_AUTH_TOKEN). */
  authToken?: string;
}

export interface ProbeResult {
  address: string;
  ok: boolean;
  info?: WorkerInfo;
  error?: string;
}

const SpeechRecognizerClient = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(SpeechRecognizer),
  "SpeechRecognizer",
);

/** gRPC's RESOURCE_EXHAUSTED: a worker at its stream limit, not an ill one. */
const RESOURCE_EXHAUSTED = 8;

/** Reported lag (WorkerInfo.lag_ms) above which a worker gets no new streams, by default. */
export const DEFAULT_MAX_LAG_MS = 10_000;

/** A conversation's audio stream to a worker: grpc-js's ClientDuplexStream surface that the bridge uses. */
export type RecognizeCall = Http2RecognizeCall;

/** "sv-SE" → "sv": the part of a BCP 47 tag the workers match on (case aside). */
export const primaryLanguage = (tag: string): string => (tag.split("-")[0] ?? "").toLowerCase();

export class AsrWorker {
  readonly address: string;
  activeStreams = 0;
  /** Admitted conversations holding a slot here until their audio flows. */
  reserved = 0;
  #downUntil = 0;
  readonly #client: grpc.Client;
  readonly #metadata: grpc.Metadata;
  /** The audio streams' own HTTP/2 connection. */
  readonly #audio: Http2GrpcChannel;
  readonly #authorization: string | undefined;
  #probe: { at: number; result: Promise<ProbeResult> } | undefined;
  /** From the last answer: the worker's limit, and the streams other nodes had open. */
  #capacity: { maxStreams: number; othersActive: number } | undefined;
  /** The last GetWorkerInfo went unanswered: no new conversation is sent here until one is answered. */
  #unanswered = false;
  /** Primary subtags of the languages it last said it recognises; undefined until it has answered once. */
  #languages: ReadonlySet<string> | undefined;
  /** WorkerInfo.lag_ms at the last answer, and the most that still takes new streams. */
  #lagMs = 0;
  readonly #maxLagMs: number;
  /** Incidents (broken streams) since a stream last got a real answer here: each doubles the time it sits out. */
  #incidents = 0;
  /** Counts every failure reported: a stream's answers vouch for the worker only if it opened after the last one. */
  #failures = 0;

  constructor(address: string, channel: AsrChannelOptions = {}, maxLagMs = DEFAULT_MAX_LAG_MS) {
    this.address = address;
    this.#maxLagMs = maxLagMs;
    this.#metadata = new grpc.Metadata();
    this.#authorization = channel.authToken ? `Bearer ${channel.authToken}` : undefined;
    if (this.#authorization) this.#metadata.set("authorization", this.#authorization);
    const tls = channel.tls;
    // Keepalive as the grpc-js channel below: a PING every 10 s, 5 s to answer.
    this.#audio = new Http2GrpcChannel(address, {
      ...(tls ? { tls } : {}),
      keepaliveMs: 10_000,
      keepaliveTimeoutMs: 5_000,
    });
    const credentials = tls
      ? grpc.credentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null)
      : grpc.credentials.createInsecure();
    this.#client = new SpeechRecognizerClient(address, credentials, {
      ...(tls?.serverName ? { "grpc.ssl_target_name_override": tls.serverName } : {}),
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
      // RecognitionStream does its own resume from committed audio; grpc-js's
      // transparent retries would only buffer a copy of every audio message.
      "grpc.enable_retries": 0,
      // grpc-js still acknowledges writes into this buffer before HTTP/2 flow
      // control lets them out (1 MB, half a minute of audio, by default): keep
      // it small so a worker that stops reading shows as backpressure soon.
      "grpc.per_rpc_retry_buffer_size": 64 * 1024,
    });
  }

  /** Not sitting out a failed stream, not silent (or UNAVAILABLE) to the last probe, not lagging. */
  get healthy(): boolean {
    return !this.#unanswered && Date.now() >= this.#downUntil && !this.lagging;
  }

  /** Its last reported lag exceeds maxLagMs: audio sent now would wait that long for a transcript. */
  get lagging(): boolean {
    return this.#lagMs > this.#maxLagMs;
  }

  /** Keeps it out of placements for at least `ms` from now (never shortens a longer time out). */
  markDown(ms: number): void {
    this.#downUntil = Math.max(this.#downUntil, Date.now() + ms);
  }

  /** Failures reported so far: a stream notes it when it opens here, for confirmServing. */
  get failureCount(): number {
    return this.#failures;
  }

  /**
   * A stream on it broke: it sits out `baseMs`, doubled for each earlier incident since a stream
   * last got a real answer here, at most `maxMs`. Failures while it already sits out are the same
   * incident (all its streams stall together when its model hangs). Returns how long it sits out.
   */
  recordFailure(baseMs: number, maxMs: number): number {
    this.#failures++;
    if (Date.now() >= this.#downUntil) this.#incidents++;
    const ms = Math.min(maxMs, baseMs * 2 ** Math.max(0, this.#incidents - 1));
    this.markDown(ms);
    return ms;
  }

  /**
   * A stream opened on it when failureCount was `failuresAtOpen` got a real answer to its audio
   * (a segment or an ack): it serves again, unless it failed since that stream opened (answers to
   * a stream opened before its last failure say nothing of what broke then).
   */
  confirmServing(failuresAtOpen: number): void {
    if (failuresAtOpen !== this.#failures) return;
    this.#incidents = 0;
    this.#downUntil = 0;
  }

  /**
   * Whether it recognises `language` (a BCP 47 tag): undefined while it has
   * never described itself. No language asked means the worker's default, and
   * a worker that lists no languages is taken to accept any (as before
   * workers listed them); otherwise the primary language must match, as the
   * worker itself decides (parley_asr/session.py pick_language).
   */
  speaks(language: string | undefined): boolean | undefined {
    if (!language) return true;
    const known = this.#languages;
    if (!known) return undefined;
    return known.size === 0 || known.has(primaryLanguage(language));
  }

  /** Primary subtags of the languages it last listed (empty: it takes any); undefined until it has answered once. */
  get languages(): ReadonlySet<string> | undefined {
    return this.#languages;
  }

  /** Opens a Recognize call (errors, also a failed connection, arrive as its 'error' event). */
  recognize(deadlineMs: number): RecognizeCall {
    return new Http2RecognizeCall(this.#audio, {
      deadlineMs,
      ...(this.#authorization ? { authorization: this.#authorization } : {}),
    });
  }

  info(timeoutMs: number): Promise<WorkerInfo> {
    const method = (
      this.#client as unknown as {
        getWorkerInfo: (
          r: GetWorkerInfoRequest,
          m: grpc.Metadata,
          o: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, v?: WorkerInfo) => void,
        ) => void;
      }
    ).getWorkerInfo;
    asrWorkerProbes.inc({ worker: this.address });
    return new Promise((resolve, reject) => {
      method.call(
        this.#client,
        { $typeName: "parley.asr.v1.GetWorkerInfoRequest" },
        this.#metadata,
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err || !value ? reject(err ?? new Error("empty reply")) : resolve(value)),
      );
    });
  }

  /** GetWorkerInfo, at most once per `maxAgeMs`; concurrent callers share one call. */
  probe(timeoutMs = 1_000, maxAgeMs = 1_000): Promise<ProbeResult> {
    const now = performance.now();
    if (this.#probe && now - this.#probe.at < maxAgeMs) return this.#probe.result;
    const result = this.info(timeoutMs).then(
      (info): ProbeResult => {
        // Answering GetWorkerInfo is not recognising speech (a hung decoder still answers it):
        // a worker marked down after a broken stream sits its time out, or comes back once a stream opened
        // there since gets a real answer (confirmServing); a stream's "ready" is no such answer.
        this.#unanswered = false;
        this.#lagMs = info.lagMs;
        this.#languages = new Set(info.languages.filter((l) => l.length > 0).map(primaryLanguage));
        // 0 means the worker sets no limit: no capacity series rather than a zero one.
        if (info.maxStreams > 0) asrWorkerCapacity.set({ worker: this.address }, info.maxStreams);
        else asrWorkerCapacity.remove({ worker: this.address });
        this.#capacity = {
          maxStreams: info.maxStreams,
          othersActive: Math.max(0, info.activeStreams - this.activeStreams),
        };
        return { address: this.address, ok: true, info };
      },
      (error: Error): ProbeResult => {
        // A worker that does not answer (or answers UNAVAILABLE: its engine is stuck) admits nothing (its
        // last known free slots are no longer true); the languages it last listed still stand (a restart
        // of the same worker lists them again).
        this.#unanswered = true;
        asrWorkerCapacity.set({ worker: this.address }, 0);
        return { address: this.address, ok: false, error: error.message };
      },
    );
    this.#probe = { at: now, result };
    return result;
  }

  /** Slots left for new streams; undefined until the worker has described itself once. */
  freeSlots(): number | undefined {
    if (!this.healthy) return 0;
    if (!this.#capacity || this.#capacity.maxStreams === 0) return undefined;
    return this.#capacity.maxStreams - this.#capacity.othersActive - this.activeStreams - this.reserved;
  }

  close(): void {
    asrWorkerCapacity.remove({ worker: this.address });
    this.#client.close();
    this.#audio.close();
  }
}

export interface AsrWorkerPoolOptions {
  addresses: string[];
  logger: Logger;
  /** How long a worker that failed sits out (default 2 s), doubled for each further incident without progress. */
  downForMs?: number;
  /** The longest a worker sits out (default 60 s). */
  maxDownForMs?: number;
  /** Reported lag (WorkerInfo.lag_ms) above which a worker takes no new streams (default 10 s). */
  maxLagMs?: number;
  channel?: AsrChannelOptions;
}

export class AsrWorkerPool {
  readonly workers: AsrWorker[];
  readonly #logger: Logger;
  readonly #downForMs: number;
  readonly #maxDownForMs: number;

  constructor(options: AsrWorkerPoolOptions) {
    this.workers = options.addresses.map((a) => new AsrWorker(a, options.channel, options.maxLagMs));
    this.#logger = options.logger;
    this.#downForMs = options.downForMs ?? 2_000;
    this.#maxDownForMs = Math.max(this.#downForMs, options.maxDownForMs ?? 60_000);
  }

  /**
   * Whether a new conversation in `language` (absent: the workers' default)
   * would get a speech stream now: some worker that speaks it has a free
   * slot. A worker that never described itself counts as free and as
   * speaking it (it may well). Refreshes stale capacity in the background.
   */
  hasCapacity(language?: string): boolean {
    return this.#mostFree(language) !== undefined;
  }

  /**
   * hasCapacity, asked for a conversation that wants to start (POST
   * /api/sessions): a no is counted as a refused admission
   * (asr_admissions_total{outcome="refused"}), as reserve() counts its own.
   */
  admits(language?: string): boolean {
    if (this.hasCapacity(language)) return true;
    asrAdmissions.inc({ outcome: "refused" });
    return false;
  }

  /**
   * Whether no worker recognises `language`, as far as is known: every
   * worker has listed its languages and none of them matches. A worker that
   * has not answered yet does not count against it: it may speak it, and
   * its silence is a passing state (it is starting), not an answer; a
   * refusal for an unsupported language is final, so it is given only on
   * what workers said. (A stream still goes only to a worker that speaks
   * the language, and ends with a clear failure if none turns out to.)
   * No workers at all is not a language question: hasCapacity answers it.
   */
  unsupported(language: string | undefined): boolean {
    if (this.workers.length === 0) return false;
    let unsupported = true;
    for (const w of this.workers) {
      void w.probe(); // at most once per second
      if (w.speaks(language) !== false) unsupported = false;
    }
    return unsupported;
  }

  /**
   * The primary languages ("en", "sv") the workers recognise, sorted, for
   * other nodes to place conversations by; undefined when any language may
   * be recognised here: a worker lists none (it takes any) or has not
   * described itself yet, or there are no workers. A language is missing
   * from the list exactly when unsupported() says so.
   */
  servedLanguages(): string[] | undefined {
    for (const w of this.workers) void w.probe(); // at most once per second
    if (this.workers.length === 0) return undefined;
    const served = new Set<string>();
    for (const w of this.workers) {
      const known = w.languages;
      if (!known || known.size === 0) return undefined;
      for (const language of known) served.add(language);
    }
    return [...served].sort();
  }

  /**
   * Holds a slot for a conversation in `language` whose audio is about to
   * flow, on a worker that speaks it; undefined when every such worker is
   * at capacity. The slot is given up after `holdMs` if no stream claimed it.
   */
  reserve(holdMs: number, language?: string): SpeechReservation | undefined {
    const worker = this.#mostFree(language);
    if (!worker) {
      asrAdmissions.inc({ outcome: "refused" });
      return undefined;
    }
    return new SpeechReservation(worker, holdMs);
  }

  #mostFree(language: string | undefined): AsrWorker | undefined {
    let best: AsrWorker | undefined;
    let bestFree = 0;
    for (const w of this.workers) {
      void w.probe(); // at most once per second; capacity is judged on what is known now
      if (w.speaks(language) === false) continue;
      const free = w.freeSlots() ?? Number.POSITIVE_INFINITY;
      if (free > bestFree) {
        best = w;
        bestFree = free;
      }
    }
    return best;
  }

  /**
   * Among the workers that speak `language` (absent: any): the healthy one
   * with the fewest streams (`prefer` when it is healthy), one known to
   * speak it before one that has not said yet, else any of them (the one
   * that has been down longest). Undefined when no worker speaks it.
   */
  pick(exclude?: AsrWorker, prefer?: AsrWorker, language?: string): AsrWorker | undefined {
    if (prefer?.healthy && prefer !== exclude && prefer.speaks(language) !== false) return prefer;
    let best: AsrWorker | undefined;
    let bestKnown = false;
    let fallback: AsrWorker | undefined; // the first that speaks it, other than `exclude` if there is one
    for (const w of this.workers) {
      const speaks = w.speaks(language);
      if (speaks === false) continue;
      if (!fallback || fallback === exclude) fallback = w;
      if (!w.healthy || w === exclude) continue;
      const known = speaks === true;
      if (!best || (known && !bestKnown) || (known === bestKnown && w.activeStreams < best.activeStreams)) {
        best = w;
        bestKnown = known;
      }
    }
    return best ?? fallback;
  }

  /** `sessionId`: the conversation whose stream failed, so the line leads to it. */
  reportFailure(worker: AsrWorker, error: Error & { code?: number }, sessionId: string): void {
    // A worker at its limit is busy, not ill: it sits out the base time, and no incident is counted.
    let downForMs = this.#downForMs;
    if (error.code === RESOURCE_EXHAUSTED) worker.markDown(downForMs);
    else downForMs = worker.recordFailure(this.#downForMs, this.#maxDownForMs);
    asrWorkerMarkedDown.inc({ worker: worker.address });
    this.#logger.warn({ worker: worker.address, sessionId, err: error, downForMs }, "speech worker marked down");
  }

  /** Readiness: which workers answer GetWorkerInfo (asked at most once per `maxAgeMs` each). */
  probe(timeoutMs = 1_000, maxAgeMs = 1_000): Promise<ProbeResult[]> {
    return Promise.all(this.workers.map((w) => w.probe(timeoutMs, maxAgeMs)));
  }

  close(): void {
    for (const w of this.workers) w.close();
  }
}
