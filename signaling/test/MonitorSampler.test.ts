// The admin monitor's report of the node's speech workers and state, from fakes
// of the node's parts: lag and streams as they stand now, not as they were when
// a worker last answered; whether the node is draining or in maintenance.
import { create } from "@bufbuild/protobuf";
import type { AsrWorkerPool, ProbeResult, Scoring } from "@parley/inference-bridge";
import type { MediaWorkerPool } from "@parley/media";
import { WorkerInfoSchema } from "@parley/proto/asr";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Session } from "../src/session/Session.ts";
import type { SessionRegistry } from "../src/session/SessionRegistry.ts";
import { MonitorSampler, type MonitorSamplerOptions } from "../src/wall/monitor/MonitorSampler.ts";
import type { WallHub } from "../src/wall/WallHub.ts";

const WORKER = "asr-1:50051";

/** A live session of this node on WORKER, whose recognition lag is `lagMs`. */
const session = (id: string, lagMs: number) =>
  ({
    id,
    started: true,
    ended: false,
    createdAt: Date.now(),
    store: { businessId: "b1", code: "demo" },
    media: undefined,
    conversation: { workerAddress: WORKER, recognitionLagMs: lagMs },
  }) as unknown as Session;

const samplers: MonitorSampler[] = [];
afterEach(() => {
  for (const s of samplers.splice(0)) s.close();
});

function sampler(probe: ProbeResult, ownStreams: number, extra: Partial<MonitorSamplerOptions> = {}) {
  const sessions = [session("s1", 300), session("s2", 500)];
  const hub = {
    live: { all: () => [][Symbol.iterator](), get: () => undefined, liveCount: () => sessions.length },
    clients: 1,
    slowClients: 0,
    clientsOn: () => [][Symbol.iterator](),
  } as unknown as WallHub;
  const asrPool = {
    workers: [{ address: WORKER, activeStreams: ownStreams }],
    probe: async () => [probe],
  } as unknown as AsrWorkerPool;
  const s = new MonitorSampler({
    nodeId: "n1",
    hub,
    sessions: { all: () => sessions[Symbol.iterator]() } as unknown as SessionRegistry,
    mediaPool: { usage: async () => [] } as unknown as MediaWorkerPool,
    asrPool,
    scoring: { engine: { name: "builtin" }, llm: undefined } as unknown as Scoring,
    llmLimits: { maxConcurrent: 2, maxWaiting: 32 },
    logger: pino({ level: "silent" }),
    intervalMs: 3_600_000,
    ...extra,
  });
  samplers.push(s);
  return s;
}

const answering: ProbeResult = {
  address: WORKER,
  ok: true,
  info: create(WorkerInfoSchema, { engine: "pocketsphinx", maxStreams: 8, activeStreams: 5 }),
};
const silent: ProbeResult = { address: WORKER, ok: false, error: "deadline exceeded" };

describe("MonitorSampler", () => {
  it("shows a worker that answers with its own stream count and its sessions' lag now", async () => {
    const report = await sampler(answering, 2).sample();
    expect(report.speechWorkers).toHaveLength(1);
    expect(report.speechWorkers[0]).toMatchObject({ ok: true, activeStreams: 5, maxStreams: 8, lagMs: 400 });
    expect(report.sessions.map((s) => s.asrLagMs)).toEqual([300, 500]);
  });

  it("shows a worker that does not answer with this node's streams on it and no lag", async () => {
    const report = await sampler(silent, 2).sample();
    expect(report.speechWorkers[0]).toMatchObject({
      ok: false,
      activeStreams: 2,
      lagMs: 0,
      error: "deadline exceeded",
    });
    // Each session still shows how far its recognition is behind.
    expect(report.sessions.map((s) => s.asrLagMs)).toEqual([300, 500]);
  });

  it("says whether the node is draining or in maintenance", async () => {
    const idle = await sampler(answering, 0).sample();
    expect(idle).toMatchObject({ draining: false, maintenance: false });
    let draining = false;
    const s = sampler(answering, 0, { draining: () => draining, maintenance: true });
    expect(await s.sample()).toMatchObject({ draining: false, maintenance: true });
    draining = true; // SIGTERM
    expect(await s.sample()).toMatchObject({ draining: true, maintenance: true });
  });
});
