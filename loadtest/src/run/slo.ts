// Service-level objectives that decide the exit code, written as
//   --slo 'partial_lag_p95<2s,errors<1%,first_partial_p50<=1500ms'
// A latency metric is <name>_<stat> (stat: p50 p90 p95 p99 max mean), with
// ms (default) or s; ratios (errors, packet_loss, wer) take % or a bare
// fraction. An objective on a metric that has no samples fails: a run that
// measured nothing cannot show that it held.
import { STATS, type Stat, type Summary } from "../report/stats.ts";

/** The latency metrics an objective may name, each a Summary in ms. */
export const LATENCY_METRICS = [
  "join",
  "join_created",
  "join_socket",
  "join_signalled",
  "join_ice_dtls",
  "first_audio_ack",
  "first_partial",
  "partial_lag",
  "final_lag",
  "score_lag",
  "jitter",
  "rtt",
] as const;
export type LatencyMetric = (typeof LATENCY_METRICS)[number];

/** Ratios: errors and packet_loss are shares (0..1); wer can pass 1 (a hypothesis with more words than the reference). */
export const RATIO_METRICS = ["errors", "packet_loss", "wer"] as const;
export type RatioMetric = (typeof RATIO_METRICS)[number];

/** The ratios that are a share of a whole: a threshold above it could never be missed. */
const SHARES: ReadonlySet<string> = new Set<RatioMetric>(["errors", "packet_loss"]);

/**
 * Latencies that an objective should not judge the node by: what bounds them
 * is not the node. `first_audio_ack` waits for mediasoup's next RTCP
 * receiver report, which goes on its own timer (0.5 s after the transport
 * connects, then every 1–1.5 s at random).
 */
const NOT_THE_NODE: Partial<Record<LatencyMetric, string>> = {
  first_audio_ack:
    "first_audio_ack is bounded by mediasoup's RTCP report interval (1–1.5 s, at random), not by the node: an objective on it judges that timer",
};

export type Operator = "<" | "<=" | ">" | ">=";

export interface Objective {
  expression: string;
  metric: string;
  operator: Operator;
  /** In ms for latencies, a fraction for ratios. */
  threshold: number;
}

export interface ObjectiveResult extends Objective {
  actual: number | null;
  pass: boolean;
}

/** A malformed --slo. */
export class SloSyntaxError extends Error {}

const LATENCY = new RegExp(`^(${LATENCY_METRICS.join("|")})_(${STATS.join("|")})$`);
const PART = /^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*([0-9]*\.?[0-9]+)\s*(ms|s|%)?\s*$/;

export function parseSlo(text: string): Objective[] {
  const parts = text.split(",").filter((p) => p.trim());
  // An empty list would make every run pass: the caller meant something.
  if (parts.length === 0) throw new SloSyntaxError(`no objective in "${text}" (example: partial_lag_p95<2s)`);
  return parts.map((part) => {
    const m = PART.exec(part);
    if (!m) throw new SloSyntaxError(`cannot read objective "${part.trim()}" (example: partial_lag_p95<2s)`);
    const [, metric, operator, number, unit] = m as unknown as [string, string, Operator, string, string?];
    const value = Number(number);
    let threshold: number;
    if (LATENCY.test(metric)) {
      if (unit === "%") throw new SloSyntaxError(`${metric} is a latency: use ms or s, not %`);
      threshold = unit === "s" ? value * 1000 : value;
    } else if ((RATIO_METRICS as readonly string[]).includes(metric)) {
      if (unit === "ms" || unit === "s") throw new SloSyntaxError(`${metric} is a ratio: use % or a fraction`);
      threshold = unit === "%" ? value / 100 : value;
      // "errors<5" is 500 % as a fraction, "errors<500%" the same: objectives that always hold.
      if (SHARES.has(metric) && threshold > 1)
        throw new SloSyntaxError(
          unit === "%"
            ? `${metric}: ${value}% is more than the whole (at most 100%)`
            : `${metric}: ${value} is more than the whole; write ${value}% or a fraction like 0.05`,
        );
    } else {
      throw new SloSyntaxError(
        `unknown metric "${metric}": one of ${LATENCY_METRICS.map((l) => `${l}_<stat>`).join(", ")}, ${RATIO_METRICS.join(", ")}`,
      );
    }
    return { expression: part.trim(), metric, operator, threshold };
  });
}

/** What to tell the user about objectives that parse but judge something else than the node. */
export function sloWarnings(objectives: readonly Objective[]): string[] {
  const named = new Set(objectives.map((o) => LATENCY.exec(o.metric)?.[1]).filter((m) => m !== undefined));
  return [...named].flatMap((m) => NOT_THE_NODE[m as LatencyMetric] ?? []);
}

export interface MeasuredRun {
  latency: Record<LatencyMetric, Summary>;
  ratios: Record<RatioMetric, number | null>;
}

export function evaluateSlo(objectives: Objective[], run: MeasuredRun): ObjectiveResult[] {
  return objectives.map((o) => {
    const actual = measured(o.metric, run);
    const pass = actual !== null && compare(actual, o.operator, o.threshold);
    return { ...o, actual, pass };
  });
}

function measured(metric: string, run: MeasuredRun): number | null {
  const latency = LATENCY.exec(metric);
  if (latency) return run.latency[latency[1] as LatencyMetric][latency[2] as Stat];
  return run.ratios[metric as RatioMetric] ?? null;
}

function compare(a: number, op: Operator, b: number): boolean {
  switch (op) {
    case "<":
      return a < b;
    case "<=":
      return a <= b;
    case ">":
      return a > b;
    case ">=":
      return a >= b;
  }
}
