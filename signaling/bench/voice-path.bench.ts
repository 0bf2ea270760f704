// Replays recorded speech as N concurrent WebRTC customers (werift: real ICE,
// DTLS, SRTP) through a Parley node running in its own process, and prints:
//  - RTP sent by the customer → PCM chunk at the speech worker (p50/p99)
//  - speech-worker event → WebSocket delivery at the customer (p50/p99)
//  - CPU per stream of the node (edge + media plane + bridge) and of its
//    mediasoup worker processes; apart from that total, its other helper
//    processes (the embedded database, the speech synthesiser's launcher)
//    and the load generator itself.
// The speech worker is LatencyProbeRecognizer (timestamps, no recognition),
// in a process of its own: its arrival times are not held up by the werift
// customers' JavaScript, and it times on the clock all processes share.
//
//   pnpm bench                 # N = 1, 10, 25
//   STREAMS=1,50 SECONDS=20 pnpm bench
//   BASELINE=/path/to/other/checkout ROUNDS=2 pnpm bench
//       before/after in one run: a node from that checkout (installed) and
//       this one take turns, A B A B, under the same customers; the
//       customers' own CPU (the load generator) is printed apart.
//   NODE_FLAGS="--max-semi-space-size=16" BASELINE_NODE_FLAGS="" BASELINE=$PWD pnpm bench
//       the same code with and without V8/Node flags, in turns
//   NODE_CPUS=0 taskset -c 1 pnpm bench
//               the node and its helpers on core 0, the customers and the
//               probe on core 1: the node's latency without the load
//               generator's on the same core
//   WARMUP=5    seconds each node first serves 10 customers, unmeasured
//   LOCKSTEP=1  every customer from the start of the recording (default:
//               staggered, so the AI's replies do not all fall together)
//   PAUSE=4     after each play of the recording, 4 s of silence (the
//               customer listening to the AI), sent with Opus DTX like the
//               app's browser (DTX=0: as 50 packets a second)
//   SAME_TICK=1 every customer sends in the same millisecond of each 20 ms
//               (default: their ticks spread over the 20 ms, as real
//               customers' microphones are; before 2026-11-26 every run
//               was SAME_TICK, which queued N packets behind each other in
//               this process and in the node, and put that in the p99)
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "@parley/inference-bridge";
import {
  librivoxRecordings,
  loopDelayMs,
  newLoopDelayMonitor,
  opusPacketsFromFile,
  parsePrometheus,
  WeriftCustomer,
} from "@parley/loadtest";
import { type ProbeProcess, startProbeProcess } from "@parley/loadtest/probe/process";
import { REPO_ROOT } from "../src/config.ts";

const STREAMS = (process.env.STREAMS ?? "1,10,25").split(",").map(Number);
const SECONDS = Number(process.env.SECONDS ?? 15);
const CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

const percentile = (values: number[], p: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

/** CPU seconds used so far by a process (user + system). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

const childPids = (pid: number): number[] => {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .trim()
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

/**
 * The node's helper processes by what they are: its mediasoup workers (part
 * of the cost per stream), and apart from it the embedded database (a real
 * deployment has its own Postgres) and the speech synthesiser's launcher.
 */
type Helper = "mediasoup" | "database" | "other";
function helpersOf(pid: number): Map<number, Helper> {
  const helpers = new Map<number, Helper>();
  for (const child of childPids(pid)) {
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${child}/cmdline`, "utf8");
    } catch {
      continue; // already gone
    }
    helpers.set(
      child,
      cmdline.includes("mediasoup-worker")
        ? "mediasoup"
        : cmdline.includes("embeddedPostgresProcess")
          ? "database"
          : "other",
    );
  }
  return helpers;
}

const cpuOf = (helpers: Map<number, Helper>, kind: Helper) => {
  let seconds = 0;
  for (const [pid, k] of helpers) {
    if (k !== kind) continue;
    try {
      seconds += cpuSeconds(pid);
    } catch {
      /* ended during the run: its CPU is not counted */
    }
  }
  return seconds;
};

interface Node {
  label: string;
  child: ChildProcess;
  url: string;
  port: number;
  /** The node's internal listener's /metrics. */
  metricsUrl: string;
}

/**
 * What the node says of its own share of RTP→PCM: its histogram
 * asr_audio_send_latency_seconds (packet handed to the node's JavaScript →
 * PCM handed to gRPC, every 10th frame; cumulative counts by upper bound in
 * seconds), and its event loop's delay, which comes before that.
 */
async function nodeMetrics(node: Node) {
  const text = await (await fetch(node.metricsUrl)).text();
  // prom-client resets its event-loop delay histogram at each scrape: this is the window's.
  const gauges = parsePrometheus(text);
  const loopDelay = {
    p99Ms: loopDelayMs(gauges.get("nodejs_eventloop_lag_p99_seconds") ?? Number.NaN, "s"),
    maxMs: loopDelayMs(gauges.get("nodejs_eventloop_lag_max_seconds") ?? Number.NaN, "s"),
  };
  // Bucket lines differ only in their labels, which parsePrometheus does not keep.
  const buckets = new Map<number, number>();
  for (const m of text.matchAll(/^asr_audio_send_latency_seconds_bucket\{[^}]*le="([^"]+)"[^}]*\} (\d+)/gm)) {
    const le = m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]);
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  return { audioSendLatency: buckets, loopDelay };
}

/** From two scrapes: the smallest bucket bound holding 99 % of the window's observations, and the share within 5 ms. */
function inNodeLatency(before: Map<number, number>, after: Map<number, number>) {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const count = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const total = count(Number.POSITIVE_INFINITY);
  const p99Bound = bounds.find((le) => count(le) >= 0.99 * total) ?? Number.NaN;
  return { p99AtMostMs: p99Bound * 1000, within5Ms: total > 0 ? count(0.005) / total : Number.NaN, samples: total };
}

async function startNode(asrAddress: string, root = REPO_ROOT, label = "this"): Promise<Node> {
  const port = await freePort();
  const internalPort = await freePort();
  // PROFILE=dir writes a V8 CPU profile of the node to dir.
  const profile = process.env.PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.PROFILE}`] : [];
  // NODE_FLAGS="--trace-deopt ..." passes V8/Node flags to the nodes under test only;
  // BASELINE_NODE_FLAGS, when set, replaces them for the baseline (A/B of flags: BASELINE=$PWD too).
  const flagsOf =
    label === "baseline" ? (process.env.BASELINE_NODE_FLAGS ?? process.env.NODE_FLAGS) : process.env.NODE_FLAGS;
  const flags = flagsOf?.split(" ").filter(Boolean) ?? [];
  const nodeArgs = [...profile, ...flags, "--import", "tsx", path.join(root, "signaling/src/main.ts")];
  // NODE_CPUS=0: the node (and the mediasoup workers and database it starts) on those cores only.
  const pinned = process.env.NODE_CPUS;
  const child = spawn(
    pinned ? "taskset" : process.execPath,
    pinned ? ["-c", pinned, process.execPath, ...nodeArgs] : nodeArgs,
    {
      env: {
        ...process.env,
        PORT: String(port),
        INTERNAL_PORT: String(internalPort),
        HOST: "127.0.0.1",
        // Every simulated customer comes from this one address.
        WS_MAX_SOCKETS_PER_IP: "100000",
        SESSIONS_MAX_PER_IP: "100000",
        ASR_WORKERS: asrAddress,
        MEDIASOUP_WORKERS: "1",
        // No conversation ends by itself (the default is after 3 AI
        // questions): with PAUSE the AI takes turns, and a node whose
        // conversations ended sooner would be measured on fewer live streams.
        MAX_TURNS: "100000",
        LOG_LEVEL: "warn",
        // Each node its own embedded records database (two nodes in A/B runs).
        PARLEY_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "parley-bench-db-")),
      },
      stdio: ["ignore", "inherit", "inherit"],
      cwd: path.join(root, "signaling"), // where tsx resolves
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/health`)).ok)
        return { label, child, url, port, metricsUrl: `http://127.0.0.1:${internalPort}/metrics` };
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGTERM");
  throw new Error("node did not start");
}

/** The machine-wide clock (what the probe times with) from this process's performance.now(). */
const onMachineClock = (ms: number) => performance.timeOrigin + ms;

async function run(streams: number, packets: Buffer[], node: Node, probe: ProbeProcess, seconds = SECONDS) {
  const customers = await Promise.all(Array.from({ length: streams }, () => WeriftCustomer.connect(node, "demo")));
  const sentAt = new Map<string, number[]>();
  const frames = Math.floor((seconds * 1000) / 20);
  const nodePid = node.child.pid!;
  const helpers = helpersOf(nodePid);
  /** CPU seconds so far of everything measured, and the wall clock. */
  const usage = () => ({
    node: cpuSeconds(nodePid),
    workers: cpuOf(helpers, "mediasoup"),
    database: cpuOf(helpers, "database"),
    other: cpuOf(helpers, "other"),
    generator: process.cpuUsage(),
    probe: cpuSeconds(probe.child.pid!),
    wall: performance.now(),
  });
  const generatorMicros = (u: ReturnType<typeof usage>) => u.generator.user + u.generator.system;
  await probe.collect(); // from here on: what the probe records (and its loop delay) is this window's
  const before = usage();
  const generatorLoop = newLoopDelayMonitor();
  generatorLoop.enable();
  const metricsBefore = await nodeMetrics(node);
  await Promise.all(
    customers.map((c, k) => {
      const times: number[] = [];
      sentAt.set(c.sessionId, times);
      // Each customer starts at another point of the recording, as real
      // customers do not end their sentences in the same 20 ms (LOCKSTEP=1:
      // all from the start, every AI reply of the node at the same moment).
      let from = process.env.LOCKSTEP ? 0 : Math.floor((k * packets.length) / customers.length);
      // The node numbers audio from the first packet it receives: start on one that is sent (not a DTX frame).
      while (packets[from % packets.length]!.length === 0) from++;
      const loop = Array.from({ length: frames }, (_, i) => packets[(from + i) % packets.length]!);
      // Latency is measured on the packets sent (not the DTX frames).
      const play = () =>
        c.play(loop, (i, at) => {
          if (loop[i]!.length > 0) times[i] = at;
        });
      if (process.env.SAME_TICK) return play();
      // Customer k's 20 ms tick starts k/N of a frame later.
      return new Promise((r) => setTimeout(r, (k * 20) / customers.length)).then(play);
    }),
  );
  const after = usage();
  const metricsAfter = await nodeMetrics(node);
  const inNode = inNodeLatency(metricsBefore.audioSendLatency, metricsAfter.audioSendLatency);
  await new Promise((r) => setTimeout(r, 300));

  generatorLoop.disable();
  const records = await probe.collect();
  const arrivals = new Map(records.chunkArrivals);
  const segmentSentAt = new Map(records.segmentSentAt);
  const rtpToPcm: number[] = [];
  const eventToWs: number[] = [];
  for (const c of customers) {
    const times = sentAt.get(c.sessionId)!;
    for (const [frame, arrived] of arrivals.get(c.sessionId) ?? [])
      if (times[frame] !== undefined) rtpToPcm.push(arrived - onMachineClock(times[frame]!));
    c.socket.messages.forEach((m, i) => {
      if (m.kind.case !== "event" || m.kind.value.kind.case !== "transcript") return;
      const sent = segmentSentAt.get(m.kind.value.kind.value.text);
      if (sent !== undefined) eventToWs.push(onMachineClock(c.socket.arrivals[i]!) - sent);
    });
  }
  await Promise.all(customers.map((c) => c.close()));
  const wall = (after.wall - before.wall) / 1000;
  return {
    node: node.label,
    streams,
    seconds: wall,
    rtpToPcmMs: { p50: percentile(rtpToPcm, 50), p99: percentile(rtpToPcm, 99), samples: rtpToPcm.length },
    // Of that, the node's own part (its histogram's buckets: an upper bound, not a percentile).
    rtpToPcmInNode: inNode,
    // How late each event loop on the path ran a 10 ms timer (p99, max): what a packet can wait
    // before the node, the customers' process (this one) or the speech worker reads it.
    loopDelay: {
      node: metricsAfter.loopDelay,
      generator: { p99Ms: loopDelayMs(generatorLoop.percentile(99)), maxMs: loopDelayMs(generatorLoop.max) },
      probe: records.loopDelay,
    },
    eventToWsMs: { p50: percentile(eventToWs, 50), p99: percentile(eventToWs, 99), samples: eventToWs.length },
    cpuPerStreamPercent: {
      node: ((after.node - before.node) / wall / streams) * 100,
      mediasoupWorkers: ((after.workers - before.workers) / wall / streams) * 100,
      total: ((after.node - before.node + after.workers - before.workers) / wall / streams) * 100,
      // Apart: the embedded database (PGlite; a deployment's Postgres is its own machine) and the TTS launcher.
      database: ((after.database - before.database) / wall / streams) * 100,
      otherHelpers: ((after.other - before.other) / wall / streams) * 100,
      // This process: the werift customers, not part of the node.
      generator: ((generatorMicros(after) - generatorMicros(before)) / 1e6 / wall / streams) * 100,
      // The speech worker's process (the probe stands in for the speech engine).
      speechWorker: ((after.probe - before.probe) / wall / streams) * 100,
    },
    loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

const recording = librivoxRecordings().sort((a, b) => b.seconds - a.seconds)[0]!;
const PAUSE_SECONDS = Number(process.env.PAUSE ?? 0);
const packets = opusPacketsFromFile(recording.wav, 0, { trailSilenceS: PAUSE_SECONDS, dtx: process.env.DTX !== "0" });
const probe = await startProbeProcess(["--record"]);
const asrAddress = probe.address;
const ROUNDS = Number(process.env.ROUNDS ?? 1);
const nodes: Node[] = [];
try {
  nodes.push(await startNode(asrAddress));
  if (process.env.BASELINE) nodes.push(await startNode(asrAddress, path.resolve(process.env.BASELINE), "baseline"));
} catch (error) {
  for (const node of nodes) node.child.kill("SIGTERM"); // no node left running behind a failed start
  probe.child.kill();
  throw error;
}
// A fresh node's first conversations run cold code (V8 compiles the hot
// paths on their first thousand calls): each node first serves a few
// customers unmeasured, so the figures are its steady state (WARMUP=0: none).
const WARMUP_SECONDS = Number(process.env.WARMUP ?? 5);
if (WARMUP_SECONDS > 0)
  for (const node of nodes) await run(Math.min(10, Math.max(...STREAMS)), packets, node, probe, WARMUP_SECONDS);
const results = [];
try {
  for (const n of STREAMS)
    for (let round = 0; round < ROUNDS; round++)
      for (const node of round % 2 === 0 ? nodes : [...nodes].reverse()) {
        const r = await run(n, packets, node, probe);
        results.push(r);
        const c = r.cpuPerStreamPercent;
        console.log(
          `${node.label.padEnd(8)} N=${String(n).padStart(3)}  RTP→PCM p50 ${r.rtpToPcmMs.p50.toFixed(2)} ms p99 ${r.rtpToPcmMs.p99.toFixed(2)} ms (${r.rtpToPcmMs.samples};` +
            ` in the node p99 ≤ ${r.rtpToPcmInNode.p99AtMostMs} ms, ${(r.rtpToPcmInNode.within5Ms * 100).toFixed(2)} % ≤ 5 ms;` +
            ` loop delay p99/max: ${(["node", "generator", "probe"] as const).map((p) => `${p} ${r.loopDelay[p].p99Ms.toFixed(1)}/${r.loopDelay[p].maxMs.toFixed(0)}`).join(", ")} ms)` +
            `  event→WS p50 ${r.eventToWsMs.p50.toFixed(2)} ms p99 ${r.eventToWsMs.p99.toFixed(2)} ms (${r.eventToWsMs.samples})` +
            `  CPU/stream node ${c.node.toFixed(3)} % + mediasoup ${c.mediasoupWorkers.toFixed(3)} % = ${c.total.toFixed(3)} % of a core` +
            `  (apart: database ${c.database.toFixed(3)} %, other helpers ${c.otherHelpers.toFixed(3)} %, generator ${c.generator.toFixed(3)} %, probe ${c.speechWorker.toFixed(3)} %; load ${r.loadAverage})`,
        );
      }
} finally {
  // The nodes first, and only then their speech worker (a node that loses it
  // while shutting down logs every stream's broken recogniser).
  await Promise.all(
    nodes.map(
      (node) =>
        new Promise((resolve) => {
          node.child.once("exit", resolve);
          node.child.kill("SIGTERM");
          setTimeout(resolve, 10_000).unref();
        }),
    ),
  );
  probe.child.kill();
}
const out = path.join(REPO_ROOT, "bench-results");
mkdirSync(out, { recursive: true });
writeFileSync(
  path.join(out, "voice-path.json"),
  JSON.stringify({ at: new Date().toISOString(), seconds: SECONDS, results }, null, 2),
);
process.exit(0);
