// Customer turns to test turn-taking with, made at test time with Debian's
// flite (voice slt) and sox: sentences that end cleanly, the same kind of
// sentences with pauses of one second of silence inside them where speakers
// hesitate ("the coffee was … um … cold, and … nobody noticed it"), and real
// speech (pocketsphinx-testdata) as recorded and with such a pause spliced in.
// A recording with inner pauses must get no question before its end.
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { LIBRIVOX_DIR, librivoxRecordings } from "./recordings.ts";

export interface TurnRecording {
  id: string;
  /** 16 kHz mono 16-bit WAV, no silence before the first word or after the last. */
  wav: string;
  seconds: number;
  source: "flite" | "librivox";
  /** Pauses inside the turn: a question during one of them interrupts the customer. */
  innerPauses: number;
  /** End of the last 20 ms frame at −40 dBFS or louder, in seconds from the start. */
  lastVoiceS: number;
}

/** Silence between the pieces of a turn with inner pauses. */
export const INNER_PAUSE_S = 1;

const FLITE_CLEAN = [
  "The coffee was cold and nobody at the counter noticed it.",
  "I waited twenty minutes for a sandwich, and it was stale.",
  "The staff were friendly and the table was clean.",
];

/** Pieces said with INNER_PAUSE_S between them: after an article, a preposition, a conjunction, a filler. */
const FLITE_PAUSED = [
  ["The coffee was", "um", "cold, and", "nobody at the counter noticed it."],
  ["I ordered a", "cappuccino, because", "the line for food was really long."],
  ["The barista was really rude to", "my daughter and", "uh", "she nearly started crying."],
];

/** Real speech cut where the speaker is mid-thought (after "and", after "have"), with a pause put in. */
const LIBRIVOX_PAUSED: { id: string; cutS: number }[] = [
  { id: "sense_and_sensibility_01_austen_64kb-0890", cutS: 2.37 }, // "…cold hearted and | rather selfish…"
  { id: "sense_and_sensibility_01_austen_64kb-0920", cutS: 3.22 }, // "…he might have | been made still…"
];

const sox = (...args: string[]) => execFileSync("sox", args);
const soxTo16k = ["-r", "16000", "-c", "1", "-b", "16", "-e", "signed"];

function seconds(wav: string): number {
  return Number(execFileSync("soxi", ["-D", wav], { encoding: "utf8" }).trim());
}

/** End of the last 20 ms frame at −40 dBFS or louder (seconds). */
export function lastVoiceSeconds(wav: string): number {
  const raw = execFileSync("sox", [wav, "-t", "raw", ...soxTo16k, "-"], { maxBuffer: 1 << 28 });
  const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
  let last = 0;
  for (let at = 0; at + 320 <= pcm.length; at += 320) {
    let energy = 0;
    for (let i = at; i < at + 320; i++) energy += pcm[i]! * pcm[i]!;
    if (Math.sqrt(energy / 320) >= 328) last = at + 320;
  }
  return last / 16_000;
}

/** flite's speech for `text` without the silence it puts around it. */
function fliteWords(text: string, file: string): string {
  const raw = `${file}.raw.wav`;
  execFileSync("flite", ["-voice", "slt", "-t", text, "-o", raw]);
  sox(raw, ...soxTo16k, file, "silence", "1", "0.005", "0.1%", "reverse", "silence", "1", "0.005", "0.1%", "reverse");
  return file;
}

function joinWithPauses(pieces: string[], out: string): void {
  const gap = `${out}.gap.wav`;
  sox("-n", ...soxTo16k, gap, "trim", "0", String(INNER_PAUSE_S));
  sox(...pieces.flatMap((p, i) => (i === 0 ? [p] : [gap, p])), out);
}

function recording(id: string, wav: string, source: TurnRecording["source"], innerPauses: number): TurnRecording {
  return { id, wav, seconds: seconds(wav), source, innerPauses, lastVoiceS: lastVoiceSeconds(wav) };
}

/** Makes every recording in `dir` (flite and sox, a few seconds on one core). */
export function makeTurnRecordings(dir: string): TurnRecording[] {
  mkdirSync(dir, { recursive: true });
  const out: TurnRecording[] = [];
  for (const [i, text] of FLITE_CLEAN.entries()) {
    const wav = fliteWords(text, path.join(dir, `flite-clean-${i + 1}.wav`));
    out.push(recording(`flite-clean-${i + 1}`, wav, "flite", 0));
  }
  for (const [i, pieces] of FLITE_PAUSED.entries()) {
    const id = `flite-paused-${i + 1}`;
    const parts = pieces.map((text, j) => fliteWords(text, path.join(dir, `${id}.${j}.wav`)));
    const wav = path.join(dir, `${id}.wav`);
    joinWithPauses(parts, wav);
    out.push(recording(id, wav, "flite", pieces.length - 1));
  }
  for (const r of librivoxRecordings()) {
    const wav = path.join(dir, `librivox-${r.id.slice(-4)}.wav`);
    sox(r.wav, ...soxTo16k, wav);
    out.push(recording(`librivox-${r.id.slice(-4)}`, wav, "librivox", 0));
  }
  for (const { id, cutS } of LIBRIVOX_PAUSED) {
    const source = path.join(LIBRIVOX_DIR, `${id}.wav`);
    const name = `librivox-${id.slice(-4)}-paused`;
    const a = path.join(dir, `${name}.a.wav`);
    const b = path.join(dir, `${name}.b.wav`);
    // 10 ms fades so the cut does not click.
    sox(source, ...soxTo16k, a, "trim", "0", String(cutS), "fade", "0", "0", "0.01");
    sox(source, ...soxTo16k, b, "trim", String(cutS), "fade", "0.01");
    const wav = path.join(dir, `${name}.wav`);
    joinWithPauses([a, b], wav);
    out.push(recording(name, wav, "librivox", 1));
  }
  return out;
}
