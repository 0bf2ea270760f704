// The admin monitor's report, sampled about once a second while an admin
// watches: every live session (this node's with mediasoup's stats of the
// customer's producer and transport, the bridge's speech-recognition lag
// and scoring latency; other nodes' from their events alone), and the
// node's machinery: mediasoup workers with their CPU, routers and
// transports; speech workers with streams, capacity and lag; the LLM queue;
// the event loop's delay; whether the node is draining or in maintenance.
// Costs nothing while nobody watches. Businesses are shown by name
// (records), looked up once and remembered a while.
//
// Lag is recognition's delay as it stands now (VoiceConversation's
// recognitionLagMs: it grows while a worker leaves audio unanswered), so a
// dead or stalled worker does not go on showing the last lag it had. A
// worker's streams come from the worker when it answers (every node's), else
// from this node's own count of the streams it has on it; a worker that does
// not answer shows no lag.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { create } from "@bufbuild/protobuf";
import type { AsrWorkerPool, Scoring } from "@parley/inference-bridge";
import type { MediaWorkerPool } from "@parley/media";
import {
  type MonitorReport,
  MonitorReportSchema,
  type SessionHealth,
  SessionHealthSchema,
  Stage,
} from "@parley/proto/wall";
import type { Logger } from "pino";
import type { Session } from "../../session/Session.ts";
import type { SessionRegistry } from "../../session/SessionRegistry.ts";
import { serverFrame } from "../frames.ts";
import type { LiveConversation } from "../LiveConversations.ts";
import { wallTopic } from "../scope.ts";
import type { WallHub } from "../WallHub.ts";

/**
 * The loop-delay histogram records the whole interval of a timer repeating
 * this often (an idle loop reads 10 ms); the loop's delay is the rest.
 */
const LOOP_RESOLUTION_MS = 10;
const loopDelayMs = (nanos: number) => Math.max(0, nanos / 1e6 - LOOP_RESOLUTION_MS);

export interface MonitorSamplerOptions {
  nodeId: string;
  hub: WallHub;
  sessions: SessionRegistry;
  mediaPool: MediaWorkerPool;
  asrPool: AsrWorkerPool;
  scoring: Scoring;
  llmLimits: { maxConcurrent: number; maxWaiting: number };
  logger: Logger;
  intervalMs?: number;
  /** SIGTERM: the node takes no new sessions and lets the live ones finish. */
  draining?: () => boolean;
  /** MAINTENANCE_MODE: every new session is refused. */
  maintenance?: boolean;
  /** Business names by id (records); absent: sessions show their business id only. */
  businessNames?: (businessIds: readonly string[]) => Promise<Map<string, string>>;
}

/** How long a business's name is remembered (a rename shows within this time). */
const NAME_TTL_MS = 5 * 60_000;

/** RTP clock of Opus: mediasoup reports jitter in its units. */
const OPUS_CLOCK_HZ = 48_000;

/** The stage of a conversation from its events alone (another node's, or before media stats). */
function stageFromEvents(c: LiveConversation | undefined): Stage {
  if (!c) return Stage.SIGNALLING;
  if (c.ended) return Stage.ENDING;
  if (c.firstScoreAtMs) return Stage.SCORING;
  if (c.firstTranscriptAtMs) return Stage.TRANSCRIBING;
  return Stage.SIGNALLING;
}

export class MonitorSampler {
  readonly #o: MonitorSamplerOptions;
  readonly #timer: NodeJS.Timeout;
  readonly #loopDelay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  /** Previous CPU time per worker pid, for CPU share between samples. */
  readonly #cpu = new Map<number, { cpuMs: number; atMs: number }>();
  readonly #names = new Map<string, { name: string; atMs: number }>();
  #sampling = false;
  #closed = false;

  constructor(options: MonitorSamplerOptions) {
    this.#o = options;
    this.#loopDelay.enable();
    this.#timer = setInterval(() => void this.#tick(), options.intervalMs ?? 1_000).unref();
  }

  /** One report, now. */
  async sample(): Promise<MonitorReport> {
    const { hub, sessions, mediaPool, asrPool, scoring, nodeId } = this.#o;
    const now = Date.now();
    const local = [...sessions.all()].filter((s) => s.started);
    const [health, workers, speech] = await Promise.all([
      Promise.all(local.map((s) => this.#health(s, now))),
      mediaPool.usage().catch(() => []),
      asrPool.probe(500),
    ]);
    const localIds = new Set(local.map((s) => s.id));
    for (const c of hub.live.all()) {
      if (c.ended || localIds.has(c.sessionId)) continue;
      health.push(
        create(SessionHealthSchema, {
          sessionId: c.sessionId,
          businessId: c.businessId,
          storeCode: c.storeCode,
          nodeId: c.nodeId,
          stage: stageFromEvents(c),
          startedAtMs: BigInt(c.startedAtMs),
          durationMs: Math.max(0, now - c.startedAtMs),
          scoringLatencyMs: c.scoringLatencyMs,
          words: c.words(),
          score: c.score?.score ?? 0,
        }),
      );
    }
    const names = await this.#businessNames(
      health.map((h) => h.businessId),
      now,
    );
    for (const h of health) h.businessName = names.get(h.businessId) ?? "";
    const lagByWorker = new Map<string, number[]>();
    for (const s of local) {
      const address = s.conversation?.workerAddress;
      if (address) lagByWorker.set(address, [...(lagByWorker.get(address) ?? []), s.conversation!.recognitionLagMs]);
    }
    const llm = scoring.llm;
    const report = create(MonitorReportSchema, {
      nodeId,
      atMs: BigInt(now),
      sessions: health.sort((a, b) => Number(a.startedAtMs - b.startedAtMs)),
      mediaWorkers: workers.map((w) => {
        const previous = this.#cpu.get(w.pid);
        this.#cpu.set(w.pid, { cpuMs: w.cpuMs, atMs: now });
        const cpuPercent =
          previous && now > previous.atMs ? (100 * (w.cpuMs - previous.cpuMs)) / (now - previous.atMs) : 0;
        return { pid: w.pid, cpuPercent, routers: w.routers, transports: w.transports, sessions: w.sessions };
      }),
      speechWorkers: speech.map((w, i) => {
        const lags = lagByWorker.get(w.address) ?? [];
        // probe() answers in the pool's order of workers.
        const own = asrPool.workers[i]?.address === w.address ? asrPool.workers[i]!.activeStreams : 0;
        return {
          address: w.address,
          ok: w.ok,
          engine: w.info?.engine ?? "",
          activeStreams: w.ok ? Math.max(w.info?.activeStreams ?? 0, own) : own,
          maxStreams: w.info?.maxStreams ?? 0,
          lagMs: w.ok && lags.length ? lags.reduce((a, b) => a + b, 0) / lags.length : 0,
          error: w.error ?? "",
        };
      }),
      llm: {
        engine: scoring.engine.name,
        configured: llm !== undefined,
        running: llm?.queue.running ?? 0,
        waiting: llm?.queue.waiting ?? 0,
        maxConcurrent: llm ? this.#o.llmLimits.maxConcurrent : 0,
        maxWaiting: llm ? this.#o.llmLimits.maxWaiting : 0,
      },
      eventLoopLagMs: Number.isFinite(this.#loopDelay.mean) ? loopDelayMs(this.#loopDelay.mean) : 0,
      eventLoopLagMaxMs: loopDelayMs(this.#loopDelay.max),
      dashboardClients: hub.clients,
      slowDashboardClients: hub.slowClients,
      liveSessionsAllNodes: hub.live.liveCount(),
      draining: this.#o.draining?.() ?? false,
      maintenance: this.#o.maintenance ?? false,
    });
    this.#loopDelay.reset();
    return report;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#loopDelay.disable();
  }

  /** Names of these businesses: remembered ones, the rest asked for in one look-up. */
  async #businessNames(ids: readonly string[], now: number): Promise<Map<string, string>> {
    const lookup = this.#o.businessNames;
    const out = new Map<string, string>();
    if (!lookup) return out;
    const missing = new Set<string>();
    for (const id of ids) {
      const known = this.#names.get(id);
      if (known && now - known.atMs < NAME_TTL_MS) out.set(id, known.name);
      else missing.add(id);
    }
    if (missing.size === 0) return out;
    try {
      const found = await lookup([...missing]);
      for (const id of missing) {
        const name = found.get(id) ?? "";
        // Unknown ids are remembered as unnamed too: they are not asked for every second.
        this.#names.set(id, { name, atMs: now });
        if (name) out.set(id, name);
      }
      if (this.#names.size > 10_000) this.#names.clear();
    } catch (err) {
      this.#o.logger.warn({ err }, "business names look-up failed");
    }
    return out;
  }

  async #tick(): Promise<void> {
    if (this.#sampling || this.#closed) return;
    const { hub } = this.#o;
    if (hub.clientsOn([wallTopic.monitor]).next().done) return;
    this.#sampling = true;
    try {
      const report = await this.sample();
      if (!this.#closed)
        hub.broadcast([wallTopic.monitor], serverFrame({ kind: { case: "monitor", value: report } }), "monitor", true);
    } catch (err) {
      this.#o.logger.warn({ err }, "monitor sample failed");
    } finally {
      this.#sampling = false;
    }
  }

  async #health(session: Session, now: number): Promise<SessionHealth> {
    const c = this.#o.hub.live.get(session.id);
    const media = session.media;
    const conversation = session.conversation;
    const stats = media && !media.closed ? await media.stats().catch(() => undefined) : undefined;
    const inbound = stats?.inbound;
    const transport = media?.sendTransportState;
    let stage = stageFromEvents(c);
    if (session.ended) stage = Stage.ENDING;
    else if (stage === Stage.SIGNALLING && transport) {
      if (transport.iceState === "new" || transport.iceState === "checking" || transport.iceState === "disconnected")
        stage = Stage.ICE;
      else if (transport.dtlsState !== "connected") stage = Stage.DTLS;
      else if (!stats?.audio?.packets) stage = Stage.FIRST_AUDIO;
      else stage = Stage.TRANSCRIBING;
    }
    const startedAt = c?.startedAtMs ?? session.createdAt;
    return create(SessionHealthSchema, {
      sessionId: session.id,
      businessId: session.store.businessId,
      storeCode: session.store.code,
      stage,
      startedAtMs: BigInt(startedAt),
      durationMs: Math.max(0, now - startedAt),
      nodeId: this.#o.nodeId,
      inboundBitrateBps: inbound?.bitrate ?? 0,
      packetLoss: inbound ? inbound.fractionLost / 256 : 0,
      packetsLost: inbound?.packetsLost ?? 0,
      packetsReceived: BigInt(inbound?.packetCount ?? 0),
      jitterMs: inbound ? (inbound.jitter * 1000) / OPUS_CLOCK_HZ : 0,
      rttMs: inbound?.roundTripTime ?? 0,
      producerScore: inbound?.score ?? 0,
      iceState: transport?.iceState ?? "",
      dtlsState: transport?.dtlsState ?? "",
      asrLagMs: conversation?.recognitionLagMs ?? 0,
      scoringLatencyMs: c?.scoringLatencyMs ?? 0,
      mediaWorkerPid: media?.workerPid ?? 0,
      speechWorker: conversation?.workerAddress ?? "",
      listened: (media?.adminListeners ?? 0) > 0,
      words: c?.words() ?? 0,
      score: c?.score?.score ?? 0,
    });
  }
}
