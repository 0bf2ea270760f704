// The live line while a run goes: elapsed time as a bar, sessions, events,
// errors, the node's and the generator's CPU. On a terminal it redraws one
// line; otherwise it prints a line every 5 s.
import type { LoadRun } from "./LoadRun.ts";

export class ProgressBar {
  readonly #run: LoadRun;
  readonly #durationMs: number;
  readonly #stream: NodeJS.WriteStream;
  readonly #tty: boolean;
  #lastPrint = 0;

  constructor(run: LoadRun, durationMs: number, stream: NodeJS.WriteStream = process.stderr) {
    this.#run = run;
    this.#durationMs = durationMs;
    this.#stream = stream;
    this.#tty = Boolean(stream.isTTY);
  }

  update(): void {
    const now = performance.now();
    if (!this.#tty && now - this.#lastPrint < 5_000) return;
    this.#lastPrint = now;
    const line = this.line();
    if (this.#tty) this.#stream.write(`\r\x1b[2K${line}`);
    else this.#stream.write(`${line}\n`);
  }

  done(): void {
    if (this.#tty) this.#stream.write("\n");
  }

  line(): string {
    const run = this.#run;
    const elapsed = run.elapsedMs;
    const share = Math.min(1, elapsed / this.#durationMs);
    const width = 24;
    const filled = Math.round(share * width);
    const c = run.counts;
    const server = run.server?.samples.at(-1);
    const gen = run.generator?.samples.at(-1);
    const cpu = (v: number | null | undefined) => (v === null || v === undefined ? "-" : `${v.toFixed(0)}%`);
    return (
      `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(elapsed / 1000).toFixed(0)}/${(this.#durationMs / 1000).toFixed(0)} s` +
      `  sessions ${c.active} live/${c.connected} up/${c.started} started` +
      `  partials ${c.partials} finals ${c.finals} scores ${c.scores}  errors ${c.errors}` +
      (c.mediaResets ? `  media resets ${c.mediaResets}` : "") +
      `  node CPU ${cpu(server?.processes ? server.processes.node : server?.cpuPercent)}` +
      `  generator CPU ${cpu(gen?.cpuPercent)}`
    );
  }
}
