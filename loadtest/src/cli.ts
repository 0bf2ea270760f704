#!/usr/bin/env -S node --import tsx
// `pnpm loadtest`: N customers replaying recorded speech against a Parley node.
// Prints a progress line while it runs and a summary at the end, writes
// report.json (schema: loadtest/schema/report.schema.json) and report.html,
// and exits 0 when every objective held, 1 when one did not, 2 on bad usage.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RecordingError } from "./audio/Recording.ts";
import { htmlReport } from "./report/html.ts";
import { buildReport } from "./report/report.ts";
import { summaryTable } from "./report/table.ts";
import { LoadRun } from "./run/LoadRun.ts";
import { parseCli, USAGE, UsageError } from "./run/options.ts";
import { ProgressBar } from "./run/ProgressBar.ts";
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
    for (const warning of sloWarnings(options.objectives)) console.error(`loadtest: warning: ${warning}`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof RecordingError) {
      console.error(`loadtest: ${error.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    throw error;
  }
  try {
    const health = await fetch(`${options.endpoint.url}/health`, { signal: AbortSignal.timeout(5_000) });
    if (!health.ok) throw new Error(`/health answered ${health.status}`);
  } catch (error) {
    console.error(`loadtest: no Parley node at ${options.endpoint.url}: ${(error as Error).message}`);
    return EXIT.usage;
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

  const report = buildReport(options, options.objectives, outcome);
  mkdirSync(options.outDir, { recursive: true });
  const jsonPath = path.join(options.outDir, "report.json");
  const htmlPath = path.join(options.outDir, "report.html");
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(htmlPath, htmlReport(report));
  console.log(summaryTable(report));
  console.log(`\nreport: ${jsonPath}\n        ${htmlPath}`);
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
