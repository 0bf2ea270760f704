// CPU per 20 ms frame of the audio fingerprint tap with many streams at once,
// as on a node: one tap per stream, frames pushed round-robin, so every hop
// finds the tap's buffers cold in the cache unless they are small. Real
// speech (a librivox recording) per stream, each from its own offset.
//
//   npx tsx bench/fingerprint-streams.bench.ts     (STREAMS=1,10,50 SECONDS=20 ROUNDS=3)
//
// PAUSE=s: s seconds of digital silence after each play of the recording, as
// the node's PCM looks while the customer listens (DTX gaps filled with zeros).
import { readdirSync, readFileSync } from "node:fs";
import { AudioFingerprinter, HOP } from "../src/audio/AudioFingerprinter.ts";

const streamCounts = (process.env.STREAMS ?? "1,10,50").split(",").map(Number);
const seconds = Number(process.env.SECONDS ?? 20);
const rounds = Number(process.env.ROUNDS ?? 3);

const LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox/";
const wav = readFileSync(
  LIBRIVOX +
    readdirSync(LIBRIVOX)
      .filter((f) => f.endsWith(".wav"))
      .sort()[0],
);
const pcm = new Int16Array(
  wav.buffer.slice(wav.byteOffset + 44, wav.byteOffset + wav.byteLength - (wav.byteLength % 2)),
);
const speechFrames = Math.floor(pcm.length / HOP);
const frames = speechFrames + Math.round((Number(process.env.PAUSE ?? 0) * 1000) / 20);
const SILENCE = new Int16Array(HOP);
const frameAt = (f: number) => {
  const at = f % frames;
  return at < speechFrames ? pcm.subarray(at * HOP, at * HOP + HOP) : SILENCE;
};

for (const streams of streamCounts) {
  const results: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const taps = Array.from({ length: streams }, () => new AudioFingerprinter());
    const total = (seconds * 1000) / 20;
    const started = process.cpuUsage();
    for (let f = 0; f < total; f++) for (let s = 0; s < streams; s++) taps[s]!.push(frameAt(f + s * 397));
    const used = process.cpuUsage(started);
    results.push(((used.user + used.system) / (total * streams)).toFixed(2));
  }
  console.log(`N=${streams}: ${results.join(", ")} µs per 20 ms frame`);
}
