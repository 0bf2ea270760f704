// Debian's pocketsphinx-testdata: real recordings with reference transcripts.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";

export const LIBRIVOX_DIR = "/usr/share/pocketsphinx/test/data/librivox";

export interface Recording {
  id: string;
  wav: string;
  reference: string;
  seconds: number;
}

export function librivoxRecordings(): Recording[] {
  const references = new Map<string, string>();
  for (const line of readFileSync(path.join(LIBRIVOX_DIR, "transcription"), "utf8").split("\n")) {
    const match = /^(.*)\(([^)]+)\)\s*$/.exec(line.trim());
    if (match) references.set(match[2]!, match[1]!.replace(/<\/?s>/g, "").trim());
  }
  return readFileSync(path.join(LIBRIVOX_DIR, "fileids"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((id) => {
      const wav = path.join(LIBRIVOX_DIR, `${id}.wav`);
      const seconds = Number(execFileSync("soxi", ["-D", wav], { encoding: "utf8" }).trim());
      return { id, wav, reference: references.get(id) ?? "", seconds };
    });
}

/**
 * One customer talking in several utterances: the librivox recordings in
 * one 16 kHz mono WAV, with `pauseS` of silence between them, `leadS`
 * before and `tailS` after. Built once per parameters under `dir`.
 */
export function conversationWav(
  dir: string,
  options: { leadS?: number; pauseS?: number; tailS?: number; count?: number } = {},
): { wav: string; seconds: number; reference: string } {
  const { leadS = 1.5, pauseS = 1.2, tailS = 2, count = 5 } = options;
  const recordings = librivoxRecordings().slice(0, count);
  const wav = path.join(dir, `conversation-${count}-${leadS}-${pauseS}-${tailS}.wav`);
  const silence = (seconds: number) => {
    const file = path.join(dir, `silence-${seconds}.wav`);
    execFileSync("sox", ["-n", "-r", "16000", "-c", "1", "-b", "16", file, "trim", "0", String(seconds)]);
    return file;
  };
  const parts = [silence(leadS)];
  recordings.forEach((r, i) => {
    parts.push(r.wav);
    parts.push(i === recordings.length - 1 ? silence(tailS) : silence(pauseS));
  });
  execFileSync("sox", [...parts, wav]);
  const seconds = Number(execFileSync("soxi", ["-D", wav], { encoding: "utf8" }).trim());
  return { wav, seconds, reference: recordings.map((r) => r.reference).join(" ") };
}
