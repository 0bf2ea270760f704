// A recording to replay: its Opus packets (with their durations), where its
// speech starts and ends, and its reference transcript when one is given.
// WAV (or anything sox reads) is encoded to 20 ms Opus packets; Ogg/Opus is
// sent as its own packets.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { Decoder } from "@evan/opus";
import { librivoxRecordings } from "../recordings.ts";
import { opusPacketsFromFile } from "../WeriftCustomer.ts";
import { normalizeWords } from "../wer.ts";
import { opusPacketSamples, readOggOpus } from "./oggOpus.ts";

export const ANALYSIS_RATE = 16_000;
const ANALYSIS_FRAME = 320; // 20 ms

export interface LoadRecording {
  id: string;
  path: string;
  format: "wav" | "ogg-opus" | "audio";
  packets: Buffer[];
  /** Start of each packet on the recording's clock, ms; `ends` the end. */
  startsMs: Float64Array;
  durationMs: number;
  /** First and last 20 ms of speech (energy above the noise floor), ms. */
  speechOnsetMs: number;
  speechEndMs: number;
  /** The reference transcript (`<name>.txt` beside the file). */
  reference: string | undefined;
}

/** A recording path that cannot be used. */
export class RecordingError extends Error {}

const OGG = /\.(ogg|opus|oga)$/i;
const AUDIO = /\.(wav|flac|ogg|opus|oga|aiff?|au|raw)$/i;

/** The files a `--recording` argument names: a file, or the audio files of a folder (sorted). */
export function recordingFiles(target: string): string[] {
  if (!existsSync(target)) throw new RecordingError(`no such file or folder: ${target}`);
  if (!statSync(target).isDirectory()) return [target];
  const files = readdirSync(target)
    .filter((f) => AUDIO.test(f))
    .sort()
    .map((f) => path.join(target, f));
  if (files.length === 0) throw new RecordingError(`no audio files (.wav, .ogg, .opus, ...) in ${target}`);
  return files;
}

/**
 * `dtx`: WAV is encoded as the app's browser encodes with Opus DTX (a frame
 * of silence the encoder marks as nothing to send becomes an empty packet,
 * which is not sent but keeps its 20 ms); Ogg/Opus is sent as it is.
 */
export function loadRecording(file: string, reference?: string, options: { dtx?: boolean } = {}): LoadRecording {
  // Beside it, its name's extension changed (a name without one: not the audio file itself read as text).
  const txt = /\.[^./]+$/.test(file) ? file.replace(/\.[^./]+$/, ".txt") : `${file}.txt`;
  const transcript = reference ?? (existsSync(txt) ? readFileSync(txt, "utf8").trim() : undefined);
  // No words to compare with: every word heard would be an insertion against nothing, a WER that means nothing.
  if (transcript !== undefined && normalizeWords(transcript).length === 0)
    throw new RecordingError(
      `${reference === undefined ? txt : `the reference transcript of ${file}`} has no words: give the words spoken in ${path.basename(file)}, or no reference file`,
    );
  const isOgg = OGG.test(file) && isOggOpus(file);
  let packets: Buffer[];
  let pcm: Int16Array;
  if (isOgg) {
    try {
      const ogg = readOggOpus(readFileSync(file));
      packets = ogg.packets.filter((p) => p.length > 0);
      const decoder = new Decoder({ channels: 1, sample_rate: ANALYSIS_RATE });
      const parts = packets.map((p) => {
        const bytes = decoder.decode(p);
        return new Int16Array(bytes.slice().buffer);
      });
      pcm = concat(parts);
    } catch (error) {
      // A damaged file is the user's input, not a bug: a usage error, not a stack trace.
      throw new RecordingError(`cannot read ${file}: ${(error as Error).message}`);
    }
  } else {
    try {
      packets = opusPacketsFromFile(file, 0, { dtx: options.dtx ?? true });
      const raw = execFileSync(
        "sox",
        [file, "-t", "raw", "-r", String(ANALYSIS_RATE), "-c", "1", "-b", "16", "-e", "signed", "-"],
        { maxBuffer: 1 << 28, stdio: ["ignore", "pipe", "pipe"] },
      );
      pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
    } catch (error) {
      throw new RecordingError(`cannot read ${file}: ${(error as Error).message.split("\n")[0]}`);
    }
  }
  if (packets.length === 0) throw new RecordingError(`${file} holds no audio`);
  const startsMs = new Float64Array(packets.length + 1);
  for (let i = 0; i < packets.length; i++)
    startsMs[i + 1] = startsMs[i]! + (packets[i]!.length === 0 ? 20 : opusPacketSamples(packets[i]!) / 48);
  const { onsetMs, endMs } = speechSpan(pcm);
  return {
    id: path.basename(file).replace(/\.[^.]+$/, ""),
    path: file,
    format: isOgg ? "ogg-opus" : /\.wav$/i.test(file) ? "wav" : "audio",
    packets,
    startsMs,
    durationMs: startsMs[packets.length]!,
    speechOnsetMs: onsetMs,
    speechEndMs: endMs,
    reference: transcript,
  };
}

/** The default recording: Debian's longest librivox test file, with its reference transcript. */
export function defaultRecording(options: { dtx?: boolean } = {}): LoadRecording {
  const longest = librivoxRecordings().sort((a, b) => b.seconds - a.seconds)[0];
  if (!longest) throw new RecordingError("pocketsphinx-testdata is not installed: pass --recording");
  return loadRecording(longest.wav, longest.reference, options);
}

function isOggOpus(file: string): boolean {
  const head = readFileSync(file).subarray(0, 64);
  return head.toString("latin1", 0, 4) === "OggS" && head.includes("OpusHead", 0, "latin1");
}

/**
 * Where speech starts and ends: 20 ms frames whose energy stands clear of
 * the noise floor (10th percentile) by at least 15 dB, or 40 % of the way
 * to the loud frames (95th percentile) when the recording is very clean.
 */
export function speechSpan(pcm: Int16Array): { onsetMs: number; endMs: number } {
  const frames = Math.floor(pcm.length / ANALYSIS_FRAME);
  if (frames === 0) return { onsetMs: 0, endMs: 0 };
  const db = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let i = f * ANALYSIS_FRAME; i < (f + 1) * ANALYSIS_FRAME; i++) sum += pcm[i]! * pcm[i]!;
    db[f] = 10 * Math.log10(sum / ANALYSIS_FRAME + 1);
  }
  const sorted = [...db].sort((a, b) => a - b);
  const floor = sorted[Math.floor(0.1 * (frames - 1))]!;
  const loud = sorted[Math.floor(0.95 * (frames - 1))]!;
  const threshold = floor + Math.min(15, 0.4 * (loud - floor));
  let first = -1;
  let last = -1;
  for (let f = 0; f < frames; f++) {
    if (db[f]! < threshold || loud - floor < 6) continue;
    if (first < 0) first = f;
    last = f;
  }
  if (first < 0) return { onsetMs: 0, endMs: 0 };
  return { onsetMs: first * 20, endMs: (last + 1) * 20 };
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
