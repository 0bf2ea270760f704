// What the node says at startup about speech synthesis: flite missing (the
// AI would be mute) is an error, and so is espeak-ng missing (questions in
// other languages than English would be read by the English voice); the
// deployment guide's TTS_SERVICE_URL, which Parley has no use for, a warning.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { FliteTts } from "../../src/tts/FliteTts.ts";
import { findProgram, reportSynthesisSetup } from "../../src/tts/synthesisSetup.ts";

const dir = mkdtempSync(path.join(tmpdir(), "parley-setup-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
  const entries = () => lines.map((line) => JSON.parse(line) as { level: number; msg: string; program?: string });
  return { logger, entries };
}
const WARN = 40;
const ERROR = 50;

describe("speech synthesis setup", () => {
  it("finds a program on the search path only when it is an executable file", async () => {
    const program = path.join(dir, "fake-flite");
    writeFileSync(program, "#!/bin/sh\n");
    expect(await findProgram("fake-flite", dir)).toBeUndefined(); // not executable
    chmodSync(program, 0o755);
    expect(await findProgram("fake-flite", `/nonexistent${path.delimiter}${dir}`)).toBe(program);
    expect(await findProgram(program, "")).toBe(program);
    expect(await findProgram("no-such-program-parley", dir)).toBeUndefined();
  });

  it("logs an error naming the program when it cannot be found, and does not throw", async () => {
    const { logger, entries } = capture();
    await reportSynthesisSetup(logger, { program: "flite", searchPath: dir });
    expect(entries()).toMatchObject([{ level: ERROR, program: "flite" }]);
    expect(entries()[0]?.msg).toMatch(/^flite not found on PATH/);
  });

  it("warns that TTS_SERVICE_URL is not used and that flite is", async () => {
    const { logger, entries } = capture();
    await new FliteTts().reportSetup(logger, "http://voice-processor:8000");
    const warnings = entries().filter((e) => e.level === WARN);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toMatch(/TTS_SERVICE_URL is set but not used.*flite/);
    // The real flite is installed here: nothing else to say.
    expect(entries().filter((e) => e.level >= ERROR)).toEqual([]);
  });

  it("says nothing above debug when flite is there and TTS_SERVICE_URL is not set", async () => {
    const { logger, entries } = capture();
    await new FliteTts().reportSetup(logger, "");
    expect(entries().filter((e) => e.level >= WARN)).toEqual([]);
  });

  it("logs an error naming espeak-ng when it cannot be found: other languages would be read by flite", async () => {
    const flite = path.join(dir, "flite");
    writeFileSync(flite, "#!/bin/sh\n", { mode: 0o755 });
    const { logger, entries } = capture();
    await reportSynthesisSetup(logger, { program: "flite", otherLanguages: "espeak-ng", searchPath: dir });
    expect(entries().filter((e) => e.level >= WARN)).toMatchObject([{ level: ERROR, program: "espeak-ng" }]);
    expect(entries().find((e) => e.level === ERROR)?.msg).toMatch(
      /^espeak-ng not found on PATH: questions in languages other than English will be read by flite's English voice \(install the espeak-ng package\)/,
    );
    // Neither found: an error for each.
    const none = capture();
    await reportSynthesisSetup(none.logger, { program: "flite", otherLanguages: "espeak-ng", searchPath: "" });
    expect(none.entries().map((e) => [e.level, e.program])).toEqual([
      [ERROR, "flite"],
      [ERROR, "espeak-ng"],
    ]);
  });

  it("says nothing above debug when both flite and espeak-ng are there, and names both when TTS_SERVICE_URL is set", async () => {
    const { logger, entries } = capture();
    await reportSynthesisSetup(logger, { program: "flite", otherLanguages: "espeak-ng" });
    expect(entries().filter((e) => e.level >= WARN)).toEqual([]);
    expect(entries().map((e) => e.program)).toEqual([
      expect.stringMatching(/flite$/),
      expect.stringMatching(/espeak-ng$/),
    ]);
    const withUrl = capture();
    await reportSynthesisSetup(withUrl.logger, {
      program: "flite",
      otherLanguages: "espeak-ng",
      ttsServiceUrl: "http://voice-processor:8000",
    });
    expect(withUrl.entries().filter((e) => e.level >= WARN)).toMatchObject([
      {
        level: WARN,
        msg: expect.stringMatching(/not used: Parley synthesises speech with flite and espeak-ng in the node/),
      },
    ]);
  });
});
