// A load test: N sessions started at a ramp, each replaying a recording
// through a real Parley node, for a bounded duration; the node and the
// generator watched throughout. `stop()` (Ctrl-C) ends every session early,
// letting the node finalise each; a second `stop()` does not wait for it.
// Whatever happens, every session opened is closed before `run()` resolves.
import { Encoder } from "@evan/opus";
import type { LoadRecording } from "../audio/Recording.ts";
import type { Endpoint } from "../ProtocolClient.ts";
import { WeriftCustomer } from "../WeriftCustomer.ts";
import { GeneratorWatch } from "./GeneratorWatch.ts";
import { type Activity, type ConnectCustomer, LoadSession, type SessionResult } from "./LoadSession.ts";
import { Pacer } from "./Pacer.ts";
import { loadAverage } from "./proc.ts";
import { ServerWatch } from "./ServerWatch.ts";

export interface LoadRunOptions {
  endpoint: Endpoint;
  metricsUrl: string | undefined;
  /** Sent as a bearer token with each metrics request (a node's public /metrics needs it). */
  metricsToken?: string | undefined;
  serverPid: number | undefined;
  sessions: number;
  /** Sessions started per second. */
  rampPerSecond: number;
  durationMs: number;
  loop: boolean;
  storeCode: string;
  recordings: LoadRecording[];
  tailSilenceMs: number;
  /** Silence as the app's browser sends it (Opus DTX), or every 20 ms as a packet. */
  dtx: boolean;
  endTimeoutMs: number;
  /** How each customer comes up: WeriftCustomer.connect to `endpoint` unless given (tests give a stand-in). */
  connect?: ConnectCustomer;
}

export interface LiveCounts {
  started: number;
  connected: number;
  active: number;
  ended: number;
  partials: number;
  finals: number;
  scores: number;
  mediaResets: number;
  errors: number;
}

export interface RunOutcome {
  startedAt: Date;
  finishedAt: Date;
  wallMs: number;
  interrupted: boolean;
  sessions: SessionResult[];
  server: ServerWatch;
  generator: GeneratorWatch;
  loadAverage: { start: number[]; end: number[] };
}

export class LoadRun {
  readonly counts: LiveCounts = {
    started: 0,
    connected: 0,
    active: 0,
    ended: 0,
    partials: 0,
    finals: 0,
    scores: 0,
    mediaResets: 0,
    errors: 0,
  };
  readonly #o: LoadRunOptions;
  readonly #pacer = new Pacer();
  readonly #live = new Set<LoadSession>();
  readonly #results: SessionResult[] = [];
  #runStartMs = 0;
  /** How the sessions are being stopped: by the deadline or the user's first stop(), gracefully; the second aborts. */
  #stopping: "graceful" | "abort" | undefined;
  /** The user's stop()s (Ctrl-C), apart from the deadline's stop: only the user's second one aborts. */
  #interrupts = 0;
  #wake: () => void = () => {};
  server: ServerWatch | undefined;
  generator: GeneratorWatch | undefined;
  /** Called about once a second with the newest samples (progress display). */
  onTick: (() => void) | undefined;

  constructor(options: LoadRunOptions) {
    if (options.recordings.length === 0) throw new Error("no recordings");
    this.#o = options;
  }

  get elapsedMs(): number {
    return this.#runStartMs ? performance.now() - this.#runStartMs : 0;
  }

  /**
   * Ends every session now (Ctrl-C): the first call lets the node finalise,
   * a second one does not wait. Also after the deadline, while the sessions
   * are already ending: the first Ctrl-C then changes nothing.
   */
  stop(): void {
    this.#interrupts++;
    this.#stopAll(this.#interrupts === 1 ? "graceful" : "abort");
  }

  async run(): Promise<RunOutcome> {
    const o = this.#o;
    const startedAt = new Date();
    const loadStart = loadAverage();
    this.#runStartMs = performance.now();
    const server = new ServerWatch({
      metricsUrl: o.metricsUrl,
      metricsToken: o.metricsToken,
      pid: o.serverPid,
      runStartMs: this.#runStartMs,
    });
    const generator = new GeneratorWatch(this.#pacer, this.#runStartMs);
    this.server = server;
    this.generator = generator;
    await server.sample(); // the baseline the first interval is measured from
    const ticker = setInterval(() => {
      generator.sample();
      void server.sample().then(() => this.onTick?.());
    }, 1_000);
    const silence = silentPacket();
    const deadline = this.#runStartMs + o.durationMs;
    const slots: Promise<void>[] = [];
    // From the run's start, not from here: the baseline sample above may have taken a while.
    const deadlineTimer = setTimeout(() => this.#stopAll("graceful"), Math.max(0, deadline - performance.now()));
    try {
      for (let slot = 0; slot < o.sessions && !this.#stopping; slot++) {
        const due = this.#runStartMs + (slot / o.rampPerSecond) * 1000;
        await this.#sleepUntil(due);
        if (this.#stopping || performance.now() >= deadline) break;
        slots.push(this.#runSlot(slot, silence, deadline));
      }
      await Promise.all(slots);
    } finally {
      clearTimeout(deadlineTimer);
      clearInterval(ticker);
      this.#pacer.stop();
      generator.sample();
      await server.sample();
      generator.stop();
    }
    return {
      startedAt,
      finishedAt: new Date(),
      wallMs: performance.now() - this.#runStartMs,
      interrupted: this.#interrupts > 0,
      sessions: this.#results.sort((a, b) => a.startedAtMs - b.startedAtMs),
      server,
      generator,
      loadAverage: { start: loadStart, end: loadAverage() },
    };
  }

  /** One customer slot: a session; looped, a new one when the node ended the previous one early. */
  async #runSlot(slot: number, silence: Buffer, deadline: number): Promise<void> {
    const o = this.#o;
    const recording = o.recordings[slot % o.recordings.length]!;
    for (;;) {
      const session = new LoadSession({
        slot,
        connect: o.connect ?? ((onStage) => WeriftCustomer.connect(o.endpoint, o.storeCode, onStage)),
        recording,
        loop: o.loop,
        pacer: this.#pacer,
        runStartMs: this.#runStartMs,
        silence,
        tailSilenceMs: o.tailSilenceMs,
        dtx: o.dtx,
        endTimeoutMs: this.#stopping === "abort" ? 1_000 : o.endTimeoutMs,
        onActivity: (what) => this.#count(what),
      });
      this.#live.add(session);
      this.counts.started++;
      this.counts.active++;
      if (this.#stopping) session.stop(this.#stopping);
      const result = await session.run();
      this.#live.delete(session);
      this.counts.active--;
      this.#results.push(result);
      const endedByServer = result.outcome.startsWith("server:");
      if (!o.loop || !endedByServer || this.#stopping || performance.now() >= deadline - 1_000) return;
    }
  }

  /** Stops every session; an abort is never turned back into a graceful stop. */
  #stopAll(mode: "graceful" | "abort"): void {
    if (this.#stopping === "abort") return;
    this.#stopping = mode;
    for (const s of this.#live) s.stop(mode);
    this.#wake();
  }

  #count(what: Activity): void {
    const c = this.counts;
    if (what === "connected") c.connected++;
    else if (what === "partial") c.partials++;
    else if (what === "final") c.finals++;
    else if (what === "score") c.scores++;
    else if (what === "mediaReset") c.mediaResets++;
    else if (what === "error") c.errors++;
    else c.ended++;
  }

  #sleepUntil(at: number): Promise<void> {
    const wait = at - performance.now();
    if (wait <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, wait);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** One 20 ms Opus packet of digital silence. */
function silentPacket(): Buffer {
  const encoder = new Encoder({ channels: 1, sample_rate: 48_000, application: "voip" });
  return Buffer.from(encoder.encode(new Int16Array(960)));
}
