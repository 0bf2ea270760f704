// CPU cost per 20 ms packet of Parley's own per-frame work, without the SFU:
// RTP parse + Opus decode (RtpAudioDecoder) → VoiceConversation (replay ring)
// → gRPC to a speech worker, and the records' audio fingerprint tap as in the
// node (TAP=0 leaves it out). The speech worker (the benchmark-only latency
// probe, sending no segments) runs in a process of its own, so the figure is
// the node's side of the audio path only.
//
//   npx tsx bench/pcm-path.bench.ts     (STREAMS=10 SECONDS=10 ASR_CHUNK_MS=20)
//
// PACE=realtime (default): every 20 ms one packet per stream, all in one
// event-loop turn; CPU from process.cpuUsage().
// PACE=turns FRAMES=n: n packets per stream as fast as the loop turns, each
// packet in a turn of its own (the worst case for coalescing: no two writes
// share a turn). Under callgrind with CALLGRIND=1 it counts instructions
// only while packets flow (callgrind_control switches collection on and
// off), a figure that the load of a shared machine does not move:
//   PACE=turns CALLGRIND=1 valgrind --tool=callgrind --instr-atstart=no \
//     --callgrind-out-file=/tmp/pcm.cg --smc-check=all-non-file node --import tsx bench/pcm-path.bench.ts
import { execFileSync } from "node:child_process";
import { setImmediate as nextTurn } from "node:timers/promises";
import { AsrWorkerPool, VoiceConversation } from "@parley/inference-bridge";
import { librivoxRecordings, opusPacketsFromFile } from "@parley/loadtest";
import { startProbeProcess } from "@parley/loadtest/probe/process";
import { RtpAudioDecoder } from "@parley/media";
import { rtpPacket } from "@parley/media/testing";
import { AudioFingerprinter } from "@parley/records";
import pino from "pino";

const STREAMS = Number(process.env.STREAMS ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 10);
const PACE = process.env.PACE ?? "realtime";
const logger = pino({ level: "silent" });

const payloads = opusPacketsFromFile(librivoxRecordings()[0]!.wav);
// No segments (the audio path alone), but commits, as a worker commits silence.
const probe = await startProbeProcess(["--segment-every-ms", "1000000", "--commit-every-ms", "5000"]);
const address = probe.address;
const pool = new AsrWorkerPool({ addresses: [address], logger });
const streams = Array.from({ length: STREAMS }, (_, i) => {
  const conversation = new VoiceConversation({
    sessionId: `bench-${i}`,
    pool,
    logger,
    publish: () => {},
    sendChunkMs: Number(process.env.ASR_CHUNK_MS ?? 20),
  });
  if (process.env.TAP === "0") return { conversation, decoder: new RtpAudioDecoder(conversation.pushPcm) };
  const tap = new AudioFingerprinter();
  const decoder = new RtpAudioDecoder((pcm, offsetSamples, arrivedAtMs) => {
    conversation.pushPcm(pcm, offsetSamples, arrivedAtMs);
    tap.push(pcm);
  });
  return { conversation, decoder };
});
// Packets built up front: building them is the sender's work, not the node's.
const frames = PACE === "turns" ? Number(process.env.FRAMES ?? 500) : (SECONDS * 1000) / 20;
const packets = Array.from({ length: payloads.length }, (_, f) => rtpPacket(f & 0xffff, f * 960, payloads[f]!));
const packetAt = (f: number) =>
  f < packets.length ? packets[f]! : rtpPacket(f & 0xffff, f * 960, payloads[f % payloads.length]!);
const pushTurns = async (from: number, to: number) => {
  for (let f = from; f < to; f++) {
    for (const s of streams) {
      s.decoder.push(packetAt(f));
      await nextTurn();
    }
  }
};
// Every stream opens its speech stream before measuring; in PACE=turns the
// hot code is also compiled first (WARMUP frames), so the count is the
// steady state.
const warmup = PACE === "turns" ? Number(process.env.WARMUP ?? 200) : 1;
await pushTurns(0, warmup);
await new Promise((r) => setTimeout(r, 500));

/** Switches callgrind's instruction counting of this process (CALLGRIND=1 under valgrind). */
const collect = (on: boolean) => {
  if (process.env.CALLGRIND) execFileSync("callgrind_control", ["-i", on ? "on" : "off", String(process.pid)]);
};
collect(true);
const start = performance.now();
const cpuBefore = process.cpuUsage();
if (PACE === "turns") {
  await pushTurns(warmup, warmup + frames);
} else {
  for (let f = warmup; f < warmup + frames; f++) {
    const due = start + (f - warmup) * 20;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const packet = packetAt(f);
    for (const s of streams) s.decoder.push(packet);
  }
}
const cpu = process.cpuUsage(cpuBefore);
const wall = (performance.now() - start) / 1000;
collect(false);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(
  `N=${STREAMS} ${PACE}: ${((cpuSeconds / wall / STREAMS) * 100).toFixed(3)} % of a core per stream, ` +
    `${((cpuSeconds / Math.max(1, frames * STREAMS)) * 1e6).toFixed(1)} µs per packet (RTP parse, Opus decode, replay ring, gRPC${process.env.TAP === "0" ? "" : ", fingerprint"}), ` +
    `${frames * STREAMS} packets`,
);
if (process.env.THREADS) {
  const { readdirSync, readFileSync } = await import("node:fs");
  for (const tid of readdirSync("/proc/self/task")) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(f[11]) + Number(f[12]);
    if (ticks > 5) console.log(`  thread ${name}: ${ticks / 100} s`);
  }
}
for (const s of streams) s.conversation.close();
pool.close();
probe.child.kill();
process.exit(0);
