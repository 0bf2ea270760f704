// Node's event-loop delay histogram (perf_hooks.monitorEventLoopDelay, and
// prom-client's nodejs_eventloop_lag_p*_seconds built on it) records the whole
// interval between runs of a repeating timer, its resolution included: an idle
// loop reads 10 ms at a 10 ms resolution. The loop's delay, what a callback
// that became due waits, is the rest.
import { type IntervalHistogram, monitorEventLoopDelay } from "node:perf_hooks";

/** The timer's interval here and prom-client's default (eventLoopMonitoringPrecision). */
export const LOOP_MONITOR_RESOLUTION_MS = 10;

export const newLoopDelayMonitor = (): IntervalHistogram =>
  monitorEventLoopDelay({ resolution: LOOP_MONITOR_RESOLUTION_MS });

/** A reading of such a histogram (nanoseconds, or seconds with `unit`) as the loop's delay in ms. */
export const loopDelayMs = (reading: number, unit: "ns" | "s" = "ns"): number =>
  Math.max(0, (unit === "ns" ? reading / 1e6 : reading * 1000) - LOOP_MONITOR_RESOLUTION_MS);
