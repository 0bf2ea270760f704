// What the node checks about speech synthesis at startup. Parley speaks with
// flite (English) and espeak-ng (the other languages) inside the node; the
// deployment guide's TTS_SERVICE_URL (an external
// "voice-processor" service) has no counterpart here, so setting it changes
// nothing, and the operator is told so rather than left to assume otherwise.
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";

/** The path `program` runs from (as a spawn without a shell finds it), or undefined when there is none. */
export async function findProgram(program: string, searchPath = process.env.PATH ?? ""): Promise<string | undefined> {
  const candidates = program.includes("/")
    ? [program]
    : searchPath
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, program));
  for (const candidate of candidates) if (await isExecutableFile(candidate)) return candidate;
  return undefined;
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, constants.X_OK);
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

export interface SynthesisSetup {
  /** The synthesiser's program, "flite" unless a test says otherwise. */
  program: string;
  /** The program that speaks the languages other than English ("espeak-ng"); absent: not checked. */
  otherLanguages?: string | undefined;
  /** TTS_SERVICE_URL as configured (empty or absent: not set). */
  ttsServiceUrl?: string | undefined;
  searchPath?: string;
}

/** Logs an error for each program that cannot be found and a warning when TTS_SERVICE_URL is set; never throws. */
export async function reportSynthesisSetup(logger: Logger, setup: SynthesisSetup): Promise<void> {
  const programs = setup.otherLanguages ? `${setup.program} and ${setup.otherLanguages}` : setup.program;
  if (setup.ttsServiceUrl?.trim()) {
    logger.warn(
      { ttsServiceUrl: setup.ttsServiceUrl.trim(), synthesizer: setup.program },
      `TTS_SERVICE_URL is set but not used: Parley synthesises speech with ${programs} in the node`,
    );
  }
  const found = await findProgram(setup.program, setup.searchPath);
  if (found) logger.debug({ program: found }, "speech synthesiser found");
  else
    logger.error(
      { program: setup.program },
      `${setup.program} not found on PATH: the AI cannot speak its questions (install the ${setup.program} package)`,
    );
  if (!setup.otherLanguages) return;
  const other = await findProgram(setup.otherLanguages, setup.searchPath);
  if (other) logger.debug({ program: other }, "speech synthesiser for other languages found");
  else
    logger.error(
      { program: setup.otherLanguages },
      `${setup.otherLanguages} not found on PATH: questions in languages other than English will be read by ${setup.program}'s English voice (install the ${setup.otherLanguages} package)`,
    );
}
