// The speech worker's Python unit tests (pytest: LocalAgreement, the voice
// gate, the batch scheduler with a scripted source, the Whisper runner on a
// tiny random-weight model). pytest runs once when this file is collected;
// each of its test cases becomes one Vitest test, so a failure names the case.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ASR_WORKER_DIR } from "../src/AsrWorkerProcess.ts";

interface Case {
  name: string;
  failure?: string;
  skipped: boolean;
}

function runPytest(): { cases: Case[]; output: string } {
  const python = path.join(ASR_WORKER_DIR, ".venv/bin/python");
  if (!existsSync(python)) return { cases: [], output: `missing ${python}: run PARLEY_WHISPER=1 setup.sh` };
  const dir = mkdtempSync(path.join(tmpdir(), "pytest-"));
  const report = path.join(dir, "report.xml");
  try {
    const run = spawnSync(python, ["-m", "pytest", "-q", "-p", "no:cacheprovider", `--junitxml=${report}`], {
      cwd: ASR_WORKER_DIR,
      encoding: "utf8",
      timeout: 600_000,
    });
    const output = `${run.stdout ?? ""}${run.stderr ?? ""}`;
    if (!existsSync(report)) return { cases: [], output };
    const xml = readFileSync(report, "utf8");
    const cases: Case[] = [];
    for (const m of xml.matchAll(/<testcase ([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const attrs = m[1] ?? "";
      const name = `${/classname="([^"]*)"/.exec(attrs)?.[1]}::${/ name="([^"]*)"/.exec(attrs)?.[1]}`;
      const body = m[2] ?? "";
      const failure = /<(failure|error)[^>]*?(?:message="([^"]*)")?[^>]*>([\s\S]*?)<\/\1>/.exec(body);
      cases.push({
        name,
        skipped: body.includes("<skipped"),
        failure: failure ? `${failure[2] ?? ""}\n${failure[3] ?? ""}` : undefined,
      });
    }
    return { cases, output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const { cases, output } = runPytest();

describe("speech worker Python tests (pytest)", () => {
  it("ran", () => {
    expect(cases.length, output).toBeGreaterThan(0);
  });
  for (const c of cases) {
    it(c.name, () => {
      expect(c.skipped, `${c.name} was skipped: the Whisper engine must be installed (PARLEY_WHISPER=1)`).toBe(false);
      if (c.failure) throw new Error(c.failure);
    });
  }
});
