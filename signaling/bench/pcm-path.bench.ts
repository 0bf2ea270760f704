// CPU cost per 20 ms packet of Parley's own per-frame work, without the SFU:
// RTP parse + Opus decode (RtpAudioDecoder) → VoiceConversation (VAD, replay
// ring) → gRPC to a speech worker (the latency probe). Packets are injected at
// real-time pace for N streams; process CPU is read with process.cpuUsage().
//
//   npx tsx bench/pcm-path.bench.ts            (STREAMS=10 SECONDS=10 ASR_CHUNK_MS=20)
import { AsrWorkerPool, VoiceConversation } from "@parley/inference-bridge";
import { librivoxRecordings, opusPacketsFromFile } from "@parley/loadtest";
import { LatencyProbeRecognizer } from "@parley/loadtest/probe";
import { RtpAudioDecoder } from "@parley/media";
import { rtpPacket } from "@parley/media/testing";
import pino from "pino";

const STREAMS = Number(process.env.STREAMS ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 10);
const logger = pino({ level: "silent" });

const payloads = opusPacketsFromFile(librivoxRecordings()[0]!.wav);
const probe = new LatencyProbeRecognizer(1_000_000); // no segments: measure the audio path only
const pool = new AsrWorkerPool({ addresses: [await probe.start()], logger });
const streams = Array.from({ length: STREAMS }, (_, i) => {
  const conversation = new VoiceConversation({
    sessionId: `bench-${i}`,
    pool,
    logger,
    publish: () => {},
    sendChunkMs: Number(process.env.ASR_CHUNK_MS ?? 20),
  });
  return { conversation, decoder: new RtpAudioDecoder(conversation.pushPcm) };
});
await new Promise((r) => setTimeout(r, 500));

const frames = (SECONDS * 1000) / 20;
const start = performance.now();
const cpuBefore = process.cpuUsage();
for (let f = 0; f < frames; f++) {
  const due = start + f * 20;
  const wait = due - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const payload = payloads[f % payloads.length]!;
  for (const s of streams) s.decoder.push(rtpPacket(f & 0xffff, f * 960, payload));
}
const cpu = process.cpuUsage(cpuBefore);
const wall = (performance.now() - start) / 1000;
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
console.log(
  `N=${STREAMS}: ${((cpuSeconds / wall / STREAMS) * 100).toFixed(3)} % of a core per stream, ` +
    `${((cpuSeconds / (frames * STREAMS)) * 1e6).toFixed(1)} µs per packet (RTP parse, Opus decode, VAD, replay ring, gRPC)`,
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
probe.stop();
process.exit(0);
