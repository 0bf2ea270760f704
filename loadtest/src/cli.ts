#!/usr/bin/env -S node --import tsx
// `pnpm loadtest`: N customers replaying recorded speech against a Parley node.
// Prints a progress line while it runs and a summary at the end, writes
// report.json (schema: loadtest/schema/report.schema.json) and report.html,
// and exits 0 when every objective held, 1 when one did not, 2 on bad usage or
// no run (no node, no session connected, the report not written).
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RecordingError } from "./audio/Recording.ts";
import { htmlReport } from "./report/html.ts";
import { buildReport, type LoadTestReport } from "./report/report.ts";
import { summaryTable } from "./report/table.ts";
import { LoadRun } from "./run/LoadRun.ts";
import { parseCli, USAGE, UsageError } from "./run/options.ts";
import { ProgressBar } from "./run/ProgressBar.ts";
import { checkNode, checkOutDir } from "./run/preflight.ts";
import { sloWarnings } from "./run/slo.ts";

export const EXIT = { ok: 0, sloMissed: 1, usage: 2 } as const;

export async function main(argv: string[]): Promise<number> {
  let options: Exclude<ReturnType<typeof parseCli>, "help">;
  try {
    const parsed = parseCli(argv);
    if (parsed === "help") {
      console.log(USAGE);
      return EXIT.ok;
    }
    options = parsed;
    checkOutDir(options.outDir);
    for (const warning of sloWarnings(options.objectives)) console.error(`loadtest: warning: ${warning}`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof RecordingError) {
      console.error(`loadtest: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    throw error;
  }
  try {
    await checkNode(options.endpoint.url, options.storeCode);
    try {
      mkdirSync(options.outDir, { recursive: true });
    } catch (error) {
      throw new UsageError(`--out ${options.outDir}: cannot make the folder: ${(error as Error).message}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`loadtest: ${error.message}`);
      return EXIT.usage;
    }
    throw error;
  }

  const run = new LoadRun(options);
  const progress = options.quiet ? undefined : new ProgressBar(run, options.durationMs);
  run.onTick = () => progress?.update();
  let interrupts = 0;
  const onSignal = () => {
    interrupts++;
    process.stderr.write(
      interrupts === 1
        ? "\nloadtest: stopping: ending every session (Ctrl-C again: do not wait for the node)\n"
        : "\nloadtest: closing every session now\n",
    );
    run.stop();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const outcome = await run.run();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  progress?.update();
  progress?.done();

  return conclude(buildReport(options, options.objectives, outcome), options.outDir);
}

/**
 * The end of a run: its summary printed, whatever else happens; its report
 * written to `outDir`; the exit code. A run that could not write its report,
 * or in which no session connected (nothing was measured), is not a passing
 * one.
 */
export function conclude(report: LoadTestReport, outDir: string): number {
  const jsonPath = path.join(outDir, "report.json");
  const htmlPath = path.join(outDir, "report.html");
  let notWritten: Error | undefined;
  try {
    // Made before the run; again, in case it went meanwhile.
    mkdirSync(outDir, { recursive: true });
    writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(htmlPath, htmlReport(report));
  } catch (error) {
    notWritten = error as Error;
  }
  console.log(summaryTable(report));
  if (notWritten) console.error(`\nloadtest: the report could not be written to ${outDir}: ${notWritten.message}`);
  else console.log(`\nreport: ${jsonPath}\n        ${htmlPath}`);
  const t = report.totals;
  if (t.sessionsConnected === 0) {
    console.error(
      t.sessionsStarted === 0
        ? "loadtest: no session started: nothing was measured"
        : `loadtest: none of the ${t.sessionsStarted} sessions connected: nothing was measured (their errors are above)`,
    );
    return EXIT.usage;
  }
  if (notWritten) return EXIT.usage;
  return report.slo && !report.slo.pass ? EXIT.sloMissed : EXIT.ok;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  main(process.argv.slice(2).filter((a, i) => i > 0 || a !== "--")).then(
    // pnpm passes its "--" through
    (code) => process.exit(code),
    (error) => {
      console.error(error);
      process.exit(EXIT.usage);
    },
  );
}
