// Made-up runs for the report's unit tests: sessions, the node's and the
// generator's samples, as a LoadRun would have left them.
import { GeneratorWatch } from "../src/run/GeneratorWatch.ts";
import type { LoadRunOptions, RunOutcome } from "../src/run/LoadRun.ts";
import type { SessionResult } from "../src/run/LoadSession.ts";
import { Pacer } from "../src/run/Pacer.ts";
import { ServerWatch } from "../src/run/ServerWatch.ts";
import { syntheticRecording } from "./fakeNode.ts";

/** A session that connected at `startedAtMs` (joined 100 ms later) and ended at `endedAtMs`. */
export function sessionResult(slot: number, startedAtMs: number, endedAtMs: number): SessionResult {
  return {
    slot,
    sessionId: `s${slot}`,
    recording: "synthetic",
    startedAtMs,
    endedAtMs,
    outcome: "completed",
    connected: true,
    stages: { created: 20, socket: 20, signalled: 20, iceDtls: 40, firstAudioAck: 600, join: 100 },
    firstPartial: [startedAtMs + 900, 800],
    partialLag: [[startedAtMs + 1_000, 400]],
    finalLag: [],
    scoreLag: [],
    partials: 1,
    finals: 0,
    scores: 0,
    reconnects: 0,
    mediaResets: 0,
    audioSentMs: endedAtMs - startedAtMs,
    wer: null,
    packets: { sent: 100, lost: 0, unconfirmed: 0, fractionLost: 0, jitterMs: 1, rttMs: 1 },
    jitter: [],
    rtt: [],
    errors: [],
  };
}

/** A sample a second from 0 to `seconds`: the node's (no metrics) and the generator's CPU at each. */
export function syntheticOutcome(
  sessions: SessionResult[],
  seconds: number,
  generatorCpuAt: (t: number) => number,
): RunOutcome {
  const server = new ServerWatch({ metricsUrl: undefined, pid: undefined, runStartMs: 0 });
  const generator = new GeneratorWatch(new Pacer(), 0);
  generator.stop();
  for (let s = 1; s <= seconds; s++) {
    const t = s * 1000;
    server.samples.push({
      t,
      cpuPercent: 50,
      rssBytes: 200e6,
      eventLoopLagMs: 1,
      activeSessions: null,
      audioStretchedSeconds: null,
      processes: null,
      processRssBytes: null,
    });
    generator.samples.push({
      t,
      cpuPercent: generatorCpuAt(t),
      eventLoopDelayP99Ms: 1,
      sendLatenessP99Ms: 1,
      machineBusyPercent: 50,
    });
  }
  return {
    startedAt: new Date(0),
    finishedAt: new Date(seconds * 1000),
    wallMs: seconds * 1000,
    interrupted: false,
    sessions,
    server,
    generator,
    loadAverage: { start: [1, 1, 1], end: [1, 1, 1] },
  };
}

export const syntheticOptions = (sessions: number): LoadRunOptions & { slo: string | null } => ({
  endpoint: { url: "http://127.0.0.1:8080" },
  metricsUrl: undefined,
  serverPid: undefined,
  sessions,
  rampPerSecond: 1,
  durationMs: 60_000,
  loop: false,
  storeCode: "demo",
  recordings: [syntheticRecording(50)],
  tailSilenceMs: 1_500,
  dtx: true,
  endTimeoutMs: 15_000,
  slo: null,
});
