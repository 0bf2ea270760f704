// The load generator watching itself: its CPU, its event loop, how late its
// packets leave, and the machine's load. A run whose generator was saturated
// measured the generator, not the node: the report says so.
import { availableParallelism } from "node:os";
import type { IntervalHistogram } from "node:perf_hooks";
import { percentile } from "../report/stats.ts";
import { loopDelayMs, newLoopDelayMonitor } from "./loopDelay.ts";
import type { Pacer } from "./Pacer.ts";
import { machineTicks } from "./proc.ts";

export interface GeneratorSample {
  t: number;
  /** This process, % of one core. */
  cpuPercent: number;
  eventLoopDelayP99Ms: number;
  /** p99 of how late packets left in this interval, ms. */
  sendLatenessP99Ms: number | null;
  /** The whole machine, % of all cores. */
  machineBusyPercent: number;
}

/** Above these the generator itself limited the run. */
export const GENERATOR_LIMITS = { cpuPercent: 85, eventLoopDelayP99Ms: 50, sendLatenessP99Ms: 20 } as const;

export class GeneratorWatch {
  readonly samples: GeneratorSample[] = [];
  readonly lateness: number[] = [];
  readonly cores = availableParallelism();
  readonly #pacer: Pacer;
  readonly #runStartMs: number;
  readonly #loop: IntervalHistogram = newLoopDelayMonitor();
  #last = { at: performance.now(), cpu: process.cpuUsage(), machine: machineTicks() };

  constructor(pacer: Pacer, runStartMs: number) {
    this.#pacer = pacer;
    this.#runStartMs = runStartMs;
    this.#loop.enable();
  }

  sample(): GeneratorSample {
    const at = performance.now();
    const cpu = process.cpuUsage();
    const machine = machineTicks();
    const seconds = (at - this.#last.at) / 1000;
    const used = (cpu.user - this.#last.cpu.user + cpu.system - this.#last.cpu.system) / 1e6;
    const late = this.#pacer.drainLateness().sort((a, b) => a - b);
    for (const l of late) this.lateness.push(l);
    const total = machine.total - this.#last.machine.total;
    const sample: GeneratorSample = {
      t: at - this.#runStartMs,
      cpuPercent: seconds > 0 ? (used / seconds) * 100 : 0,
      eventLoopDelayP99Ms: loopDelayMs(this.#loop.percentile(99)),
      sendLatenessP99Ms: late.length ? percentile(late, 99) : null,
      machineBusyPercent: total > 0 ? ((machine.busy - this.#last.machine.busy) / total) * 100 : 0,
    };
    this.#loop.reset();
    this.#last = { at, cpu, machine };
    this.samples.push(sample);
    return sample;
  }

  stop(): void {
    this.#loop.disable();
  }
}
