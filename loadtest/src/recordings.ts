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
