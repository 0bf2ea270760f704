// The load test's report: what was run against what, the summaries that the
// objectives judge, the node's and the generator's load, every session, and
// the time series the HTML report plots. Its JSON form is described by
// loadtest/schema/report.schema.json (kept in step by a test).
import type { LoadRecording } from "../audio/Recording.ts";
import { GENERATOR_LIMITS } from "../run/GeneratorWatch.ts";
import type { LoadRunOptions, RunOutcome } from "../run/LoadRun.ts";
import type { SessionResult } from "../run/LoadSession.ts";
import {
  evaluateSlo,
  LATENCY_METRICS,
  type LatencyMetric,
  type MeasuredRun,
  type Objective,
  type ObjectiveResult,
  type RatioMetric,
} from "../run/slo.ts";
import { percentile, type Summary, summarize } from "./stats.ts";

export const REPORT_SCHEMA_ID = "https://parley.dev/schemas/loadtest-report-v1.json";
const MAX_SERIES_POINTS = 4_000;

type Point = [number, number];

export interface LoadTestReport {
  $schema: string;
  schemaVersion: 1;
  tool: "parley-loadtest";
  startedAt: string;
  finishedAt: string;
  wallMs: number;
  interrupted: boolean;
  target: { url: string; metricsUrl: string | null; serverPid: number | null };
  options: {
    sessions: number;
    rampPerSecond: number;
    durationMs: number;
    loop: boolean;
    storeCode: string;
    slo: string | null;
    recordings: {
      id: string;
      path: string;
      format: string;
      durationMs: number;
      speechOnsetMs: number;
      speechEndMs: number;
      hasReference: boolean;
    }[];
  };
  machine: { cores: number; loadAverageStart: number[]; loadAverageEnd: number[]; busyPercentMean: number | null };
  totals: {
    sessionsStarted: number;
    sessionsConnected: number;
    sessionsWithErrors: number;
    errorRate: number;
    partials: number;
    finals: number;
    scores: number;
    packetsSent: number;
    packetsLost: number;
    /** Sent into media the node then lost, after its last receiver report: neither lost nor received. */
    packetsUnconfirmed: number;
    /** Lost of the packets a receiver report covered (those of sessions with one, less the unconfirmed). */
    packetLoss: number | null;
    peakConcurrentSessions: number;
    mediaResets: number;
  };
  latencyMs: Record<LatencyMetric, Summary>;
  wer: { corpus: number | null; sessions: number; words: number; errors: number };
  errors: { stage: string; kind: string; count: number; example: string }[];
  server: {
    metricsAvailable: boolean;
    metricsProblem: string | null;
    /** Why /proc gave no figures of --server-pid from some point of the run on (it was gone), if so. */
    processProblem: string | null;
    cpuPercent: Summary;
    rssBytes: Summary;
    eventLoopLagMs: Summary;
    /** Audio the node placed late after stalls during the run (its counter's rise); null without metrics. */
    audioStretchedSeconds: number | null;
    /** Steady state (every session up): CPU % of one core per session, by process. */
    perSession: {
      samples: number;
      cpuPercent: number | null;
      nodeCpuPercent: number | null;
      mediasoupCpuPercent: number | null;
      speechCpuPercent: number | null;
      /** The node's resident memory above its level before the run, per session; null when it was not above it. */
      rssBytes: number | null;
      /** The node's memory in steady state was not above its level before the run (it freed some): no figure per session. */
      rssFell: boolean;
    };
  };
  generator: {
    /** The whole run, ramp and tail included. */
    cpuPercent: Summary;
    /** While at least 90 % of the peak sessions were live: what `limited` judges (the whole run when empty). */
    steadyCpuPercent: Summary;
    eventLoopDelayMs: Summary;
    sendLatenessMs: Summary;
    limited: boolean;
    reasons: string[];
  };
  slo: { pass: boolean; objectives: ObjectiveResult[] } | null;
  sessions: SessionSummary[];
  series: {
    partialLag: Point[];
    firstPartial: Point[];
    finalLag: Point[];
    scoreLag: Point[];
    join: Point[];
    serverCpuPercent: Point[];
    serverRssBytes: Point[];
    serverEventLoopLagMs: Point[];
    generatorCpuPercent: Point[];
    activeSessions: Point[];
  };
}

export interface SessionSummary {
  slot: number;
  sessionId: string | null;
  recording: string;
  startedAtMs: number;
  endedAtMs: number;
  outcome: string;
  connected: boolean;
  stagesMs: SessionResult["stages"];
  firstPartialMs: number | null;
  partialLagP95Ms: number | null;
  partials: number;
  finals: number;
  scores: number;
  reconnects: number;
  mediaResets: number;
  audioSentMs: number;
  wer: number | null;
  hypothesis: string | null;
  packets: SessionResult["packets"];
  errors: { stage: string; kind: string; message: string; atMs: number }[];
}

export function buildReport(
  options: LoadRunOptions & { slo: string | null },
  objectives: Objective[],
  outcome: RunOutcome,
): LoadTestReport {
  const sessions = outcome.sessions;
  const all = (pick: (s: SessionResult) => Point[]) => sessions.flatMap(pick);
  const values = (points: Point[]) => points.map((p) => p[1]);
  const stage = (pick: (s: SessionResult) => number | null) =>
    summarize(sessions.map(pick).filter((v): v is number => v !== null));
  const partialLag = all((s) => s.partialLag);
  const finalLag = all((s) => s.finalLag);
  const scoreLag = all((s) => s.scoreLag);
  const firstPartial = sessions.flatMap((s) => (s.firstPartial ? [s.firstPartial] : []));
  const join = sessions.flatMap((s) => (s.stages.join !== null ? [[s.startedAtMs, s.stages.join] as Point] : []));
  const latencyMs: Record<LatencyMetric, Summary> = {
    join: summarize(values(join)),
    join_created: stage((s) => s.stages.created),
    join_socket: stage((s) => s.stages.socket),
    join_signalled: stage((s) => s.stages.signalled),
    join_ice_dtls: stage((s) => s.stages.iceDtls),
    first_audio_ack: stage((s) => s.stages.firstAudioAck),
    first_partial: summarize(values(firstPartial)),
    partial_lag: summarize(values(partialLag)),
    final_lag: summarize(values(finalLag)),
    score_lag: summarize(values(scoreLag)),
    jitter: summarize(values(all((s) => s.jitter))),
    rtt: summarize(values(all((s) => s.rtt))),
  };
  for (const m of LATENCY_METRICS) latencyMs[m] ??= summarize([]);

  const werSessions = sessions.filter((s) => s.wer !== null);
  const werErrors = werSessions.reduce((n, s) => n + s.wer!.errors, 0);
  const werWords = werSessions.reduce((n, s) => n + s.wer!.words, 0);
  const withErrors = sessions.filter((s) => s.errors.length > 0).length;
  const packetsSent = sessions.reduce((n, s) => n + s.packets.sent, 0);
  const reported = sessions.filter((s) => s.packets.lost !== null);
  const packetsLost = reported.reduce((n, s) => n + Math.max(0, s.packets.lost!), 0);
  const packetsUnconfirmed = sessions.reduce((n, s) => n + s.packets.unconfirmed, 0);
  // Unconfirmed packets are left out of the share: counting them as received would make the loss read low.
  const reportedSent = reported.reduce((n, s) => n + s.packets.sent - s.packets.unconfirmed, 0);
  const ratios: Record<RatioMetric, number | null> = {
    errors: sessions.length ? withErrors / sessions.length : null,
    packet_loss: reportedSent ? packetsLost / reportedSent : null,
    wer: werWords ? werErrors / werWords : null,
  };
  const measured: MeasuredRun = { latency: latencyMs, ratios };
  const sloResults = objectives.length ? evaluateSlo(objectives, measured) : null;

  const errorGroups = new Map<string, { stage: string; kind: string; count: number; example: string }>();
  for (const s of sessions)
    for (const e of s.errors) {
      const key = `${e.stage}/${e.kind}`;
      const g = errorGroups.get(key) ?? { stage: e.stage, kind: e.kind, count: 0, example: e.message.slice(0, 300) };
      g.count++;
      errorGroups.set(key, g);
    }

  const activeAt = liveSessionsAt(sessions);
  const server = outcome.server;
  const gen = outcome.generator;
  // The most sessions live at once, however briefly (a run stopped right after its sessions joined).
  const peak = peakLive(sessions);
  // Steady state: (nearly) every session up, the ramp and the tail left out; judged at the samples, so of their peak.
  const samplePeak = server.samples.reduce((m, s) => Math.max(m, activeAt(s.t)), 0);
  const isSteady = (t: number) => samplePeak > 0 && activeAt(t) >= Math.max(1, Math.floor(0.9 * samplePeak));
  const steady = server.samples.filter((s) => isSteady(s.t));
  const perSession = (pick: (s: (typeof steady)[number]) => number | null) => {
    const v = steady.flatMap((s) => {
      const x = pick(s);
      const n = activeAt(s.t);
      return x === null || n === 0 ? [] : [x / n];
    });
    return v.length ? round(v.reduce((a, b) => a + b, 0) / v.length) : null;
  };
  // Memory of the node process itself (metrics, else /proc): speech workers are separate services.
  const nodeRss = (s: { rssBytes: number | null; processRssBytes: number | null }) => s.rssBytes ?? s.processRssBytes;
  const baselineRss = server.baseline ? nodeRss(server.baseline) : null;
  // The node's memory above its level before the run, per session: not a figure when it fell (no GC forced, no floor).
  const rssGrowth =
    baselineRss === null
      ? null
      : perSession((s) => {
          const rss = nodeRss(s);
          return rss === null ? null : rss - baselineRss;
        });

  // Counted by the node as each session's media closes: the last sample (taken after every session closed) less the first.
  const stretchedAtEnd = server.samples.at(-1)?.audioStretchedSeconds ?? null;
  const stretchedAtStart = server.baseline?.audioStretchedSeconds ?? null;
  const audioStretchedSeconds =
    stretchedAtEnd === null || stretchedAtStart === null ? null : round(stretchedAtEnd - stretchedAtStart);

  const genCpu = summarize(gen.samples.map((s) => s.cpuPercent));
  const genSteadyCpu = summarize(gen.samples.filter((s) => isSteady(s.t)).map((s) => s.cpuPercent));
  // Judged where the load is, not diluted by the ramp and the tail; the whole run only when no steady state was reached.
  const judgedCpu = genSteadyCpu.count > 0 ? genSteadyCpu.mean! : genCpu.mean;
  const judgedOn =
    genSteadyCpu.count > 0 ? `in steady state (${genSteadyCpu.count} samples at peak)` : "over the whole run";
  const genLoop = summarize(gen.samples.map((s) => s.eventLoopDelayP99Ms));
  const lateness = summarize(gen.lateness);
  const reasons: string[] = [];
  if ((judgedCpu ?? 0) > GENERATOR_LIMITS.cpuPercent)
    reasons.push(
      `generator CPU averaged ${judgedCpu!.toFixed(0)} % of a core ${judgedOn} (> ${GENERATOR_LIMITS.cpuPercent} %)`,
    );
  if ((genLoop.p50 ?? 0) > GENERATOR_LIMITS.eventLoopDelayP99Ms)
    reasons.push(`generator event loop delayed ${genLoop.p50!.toFixed(0)} ms (p99, typical second)`);
  const machineBusy = gen.samples.map((s) => s.machineBusyPercent);
  const busyMean = machineBusy.length ? machineBusy.reduce((a, b) => a + b, 0) / machineBusy.length : 0;
  if ((lateness.p99 ?? 0) > GENERATOR_LIMITS.sendLatenessP99Ms)
    reasons.push(
      `packets left up to ${lateness.p99!.toFixed(0)} ms late (p99)` +
        (busyMean > 90 && (judgedCpu ?? 0) <= GENERATOR_LIMITS.cpuPercent
          ? `: the machine was saturated (${busyMean.toFixed(0)} % busy, load ${outcome.loadAverage.end.join(" ")}), not the generator's own CPU`
          : ""),
    );

  return {
    $schema: REPORT_SCHEMA_ID,
    schemaVersion: 1,
    tool: "parley-loadtest",
    startedAt: outcome.startedAt.toISOString(),
    finishedAt: outcome.finishedAt.toISOString(),
    wallMs: round(outcome.wallMs),
    interrupted: outcome.interrupted,
    target: { url: options.endpoint.url, metricsUrl: options.metricsUrl ?? null, serverPid: options.serverPid ?? null },
    options: {
      sessions: options.sessions,
      rampPerSecond: options.rampPerSecond,
      durationMs: options.durationMs,
      loop: options.loop,
      storeCode: options.storeCode,
      slo: options.slo,
      recordings: options.recordings.map((r: LoadRecording) => ({
        id: r.id,
        path: r.path,
        format: r.format,
        durationMs: round(r.durationMs),
        speechOnsetMs: r.speechOnsetMs,
        speechEndMs: r.speechEndMs,
        hasReference: r.reference !== undefined,
      })),
    },
    machine: {
      cores: gen.cores,
      loadAverageStart: outcome.loadAverage.start,
      loadAverageEnd: outcome.loadAverage.end,
      busyPercentMean: machineBusy.length ? round(busyMean) : null,
    },
    totals: {
      sessionsStarted: sessions.length,
      sessionsConnected: sessions.filter((s) => s.connected).length,
      sessionsWithErrors: withErrors,
      errorRate: ratios.errors ?? 0,
      partials: sessions.reduce((n, s) => n + s.partials, 0),
      finals: sessions.reduce((n, s) => n + s.finals, 0),
      scores: sessions.reduce((n, s) => n + s.scores, 0),
      packetsSent,
      packetsLost,
      packetsUnconfirmed,
      packetLoss: ratios.packet_loss,
      peakConcurrentSessions: peak,
      mediaResets: sessions.reduce((n, s) => n + s.mediaResets, 0),
    },
    latencyMs,
    wer: {
      corpus: ratios.wer === null ? null : round(ratios.wer),
      sessions: werSessions.length,
      words: werWords,
      errors: werErrors,
    },
    errors: [...errorGroups.values()].sort((a, b) => b.count - a.count),
    server: {
      metricsAvailable: server.metricsSeen,
      metricsProblem: server.metricsProblem ?? null,
      processProblem: server.processProblem ?? null,
      cpuPercent: summarize(server.samples.flatMap((s) => (s.cpuPercent === null ? [] : [s.cpuPercent]))),
      rssBytes: summarize(server.samples.flatMap((s) => (s.rssBytes === null ? [] : [s.rssBytes]))),
      eventLoopLagMs: summarize(server.samples.flatMap((s) => (s.eventLoopLagMs === null ? [] : [s.eventLoopLagMs]))),
      audioStretchedSeconds,
      perSession: {
        samples: steady.length,
        cpuPercent: perSession((s) =>
          s.processes
            ? s.processes.node + s.processes.mediasoup + s.processes.speech + s.processes.other
            : s.cpuPercent,
        ),
        nodeCpuPercent: perSession((s) => s.processes?.node ?? s.cpuPercent),
        mediasoupCpuPercent: perSession((s) => s.processes?.mediasoup ?? null),
        speechCpuPercent: perSession((s) => s.processes?.speech ?? null),
        rssBytes: rssGrowth !== null && rssGrowth > 0 ? rssGrowth : null,
        rssFell: rssGrowth !== null && rssGrowth <= 0,
      },
    },
    generator: {
      cpuPercent: genCpu,
      steadyCpuPercent: genSteadyCpu,
      eventLoopDelayMs: genLoop,
      sendLatenessMs: lateness,
      limited: reasons.length > 0,
      reasons,
    },
    slo: sloResults ? { pass: sloResults.every((r) => r.pass), objectives: sloResults } : null,
    sessions: sessions.map(sessionSummary),
    series: {
      partialLag: thin(partialLag),
      firstPartial: thin(firstPartial),
      finalLag: thin(finalLag),
      scoreLag: thin(scoreLag),
      join: thin(join),
      // One sample a second: a day's soak would be 86 400 points each.
      serverCpuPercent: thin(server.samples.flatMap((s) => (s.cpuPercent === null ? [] : [[s.t, s.cpuPercent]]))),
      serverRssBytes: thin(
        server.samples.flatMap((s) => {
          const rss = nodeRss(s);
          return rss === null ? [] : [[s.t, rss] as Point];
        }),
      ),
      serverEventLoopLagMs: thin(
        server.samples.flatMap((s) => (s.eventLoopLagMs === null ? [] : [[s.t, s.eventLoopLagMs] as Point])),
      ),
      generatorCpuPercent: thin(gen.samples.map((s) => [s.t, s.cpuPercent] as Point)),
      activeSessions: thin(server.samples.map((s) => [s.t, activeAt(s.t)] as Point)),
    },
  };
}

function sessionSummary(s: SessionResult): SessionSummary {
  const lags = Float64Array.from(s.partialLag.map((p) => p[1])).sort();
  return {
    slot: s.slot,
    sessionId: s.sessionId ?? null,
    recording: s.recording,
    startedAtMs: r1(s.startedAtMs),
    endedAtMs: r1(s.endedAtMs),
    outcome: s.outcome,
    connected: s.connected,
    stagesMs: {
      created: rn(s.stages.created),
      socket: rn(s.stages.socket),
      signalled: rn(s.stages.signalled),
      iceDtls: rn(s.stages.iceDtls),
      firstAudioAck: rn(s.stages.firstAudioAck),
      join: rn(s.stages.join),
    },
    firstPartialMs: s.firstPartial ? r1(s.firstPartial[1]) : null,
    partialLagP95Ms: lags.length ? r1(percentile(lags, 95)) : null,
    partials: s.partials,
    finals: s.finals,
    scores: s.scores,
    reconnects: s.reconnects,
    mediaResets: s.mediaResets,
    audioSentMs: s.audioSentMs,
    wer: s.wer?.words ? round(s.wer.errors / s.wer.words) : null,
    hypothesis: s.wer?.hypothesis ?? null,
    packets: {
      sent: s.packets.sent,
      lost: s.packets.lost,
      unconfirmed: s.packets.unconfirmed,
      fractionLost: s.packets.fractionLost === null ? null : round(s.packets.fractionLost),
      jitterMs: rn(s.packets.jitterMs),
      rttMs: rn(s.packets.rttMs),
    },
    errors: s.errors.map((e) => ({ ...e, atMs: r1(e.atMs) })),
  };
}

/**
 * How many sessions were live (connected, not yet ended) at a time; by
 * binary search, as a long soak has many sessions and many samples.
 */
function liveSessionsAt(sessions: readonly SessionResult[]): (t: number) => number {
  const connected = sessions.filter((s) => s.connected);
  const ups = Float64Array.from(connected, (s) => s.startedAtMs + (s.stages.join ?? 0)).sort();
  const ends = Float64Array.from(connected, (s) => s.endedAtMs).sort();
  // A session ends after it is up: those up by t, less those that ended before t.
  return (t) => countAtMost(ups, t) - countBelow(ends, t);
}

/** The most sessions live (connected, not yet ended) at any one time: a sweep over when each came up and ended. */
function peakLive(sessions: readonly SessionResult[]): number {
  const edges: [number, 1 | -1][] = sessions
    .filter((s) => s.connected)
    .flatMap((s) => {
      const up = s.startedAtMs + (s.stages.join ?? 0);
      return [
        [up, 1],
        [Math.max(up, s.endedAtMs), -1],
      ];
    });
  // At the same time an arrival first: a session is live up to its end, inclusive (as liveSessionsAt counts).
  edges.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let live = 0;
  let peak = 0;
  for (const [, step] of edges) peak = Math.max(peak, (live += step));
  return peak;
}

/** How many of ascending `sorted` are ≤ t. */
function countAtMost(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many of ascending `sorted` are < t. */
function countBelow(sorted: Float64Array, t: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** At most MAX_SERIES_POINTS points, evenly picked, in time order. */
function thin(points: Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a[0] - b[0]);
  const step = Math.max(1, sorted.length / MAX_SERIES_POINTS);
  const out: Point[] = [];
  for (let i = 0; i < sorted.length; i += step) {
    const p = sorted[Math.floor(i)]!;
    out.push([r1(p[0]), r1(p[1])]);
  }
  return out;
}

const round = (v: number) => Math.round(v * 10_000) / 10_000;
const r1 = (v: number) => Math.round(v * 10) / 10;
const rn = (v: number | null) => (v === null ? null : r1(v));
