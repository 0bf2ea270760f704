// What the AI voice's Opus encoder costs per 20 ms frame at each complexity,
// and how far the decoded waveform is from the original (SNR after aligning
// by the codec's delay: a crude fidelity figure, not a listening test). The
// voice is a flite sentence in the AI's voice (slt, 16 kHz).
//
//   cd media && npx tsx bench/voice-encoder.bench.ts
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Decoder, Encoder } from "@evan/opus";
import { VOICE_COMPLEXITY } from "../src/EncodedSpeech.ts";

const FRAME = 320; // 20 ms at 16 kHz
const wav = path.join(mkdtempSync(path.join(tmpdir(), "parley-voice-")), "voice.wav");
const SENTENCE = "What would have made the visit better for you? Tell me about the coffee.";
execFileSync("flite", ["-voice", "slt", "-t", SENTENCE, "-o", wav]);
const raw = execFileSync("sox", [wav, "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"]);
const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
const frames = Math.floor(pcm.length / FRAME);

type Complexity = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
const newEncoder = (complexity: Complexity) => {
  const encoder = new Encoder({ channels: 1, sample_rate: 16_000, application: "voip" });
  encoder.bitrate = 24_000;
  encoder.complexity = complexity;
  return encoder;
};

/** SNR of the decoded voice against the original, at the best alignment (the codec delays it). */
function snrDb(complexity: Complexity): number {
  const encoder = newEncoder(complexity);
  const decoder = new Decoder({ channels: 1, sample_rate: 16_000 });
  const out = new Int16Array(frames * FRAME);
  for (let f = 0; f < frames; f++) {
    const decoded = decoder.decode(encoder.encode(pcm.subarray(f * FRAME, (f + 1) * FRAME)));
    out.set(new Int16Array(decoded.slice().buffer), f * FRAME);
  }
  let best = Number.NEGATIVE_INFINITY;
  for (let lag = 0; lag < 400; lag++) {
    let signal = 0;
    let noise = 0;
    for (let i = 0; i + lag < out.length; i++) {
      signal += pcm[i]! * pcm[i]!;
      noise += (pcm[i]! - out[i + lag]!) ** 2;
    }
    best = Math.max(best, 10 * Math.log10(signal / noise));
  }
  return best;
}

console.log(`flite sentence: ${frames} frames of 20 ms; the AI's voice uses complexity ${VOICE_COMPLEXITY}`);
for (const complexity of [10, 9, 7, 5, 3, 1] as Complexity[]) {
  const encoder = newEncoder(complexity);
  let best = Number.POSITIVE_INFINITY;
  let bytes = 0;
  for (let round = 0; round < 5; round++) {
    const start = performance.now();
    for (let f = 0; f < frames; f++) {
      const packet = encoder.encode(pcm.subarray(f * FRAME, (f + 1) * FRAME));
      if (round === 0) bytes += packet.length;
    }
    best = Math.min(best, ((performance.now() - start) * 1000) / frames);
  }
  console.log(
    `complexity ${String(complexity).padStart(2)}: ${best.toFixed(1).padStart(6)} µs per frame (best of 5)` +
      `  ${(bytes / frames).toFixed(1)} bytes per frame  SNR ${snrDb(complexity).toFixed(2)} dB`,
  );
}
