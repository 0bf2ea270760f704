import { describe, expect, it } from "vitest";
import { summarize } from "../src/report/stats.ts";
import {
  evaluateSlo,
  LATENCY_METRICS,
  type MeasuredRun,
  parseSlo,
  SloSyntaxError,
  sloWarnings,
} from "../src/run/slo.ts";

const run = (partialLags: number[], errors: number | null): MeasuredRun => ({
  latency: Object.fromEntries(
    LATENCY_METRICS.map((m) => [m, summarize(m === "partial_lag" ? partialLags : [])]),
  ) as MeasuredRun["latency"],
  ratios: { errors, packet_loss: 0, wer: null },
});

describe("objectives", () => {
  it("reads latencies in s or ms and ratios in % or fractions", () => {
    expect(parseSlo("partial_lag_p95<2s, errors<1%,first_partial_p50<=1500ms,wer<0.4")).toEqual([
      { expression: "partial_lag_p95<2s", metric: "partial_lag_p95", operator: "<", threshold: 2000 },
      { expression: "errors<1%", metric: "errors", operator: "<", threshold: 0.01 },
      { expression: "first_partial_p50<=1500ms", metric: "first_partial_p50", operator: "<=", threshold: 1500 },
      { expression: "wer<0.4", metric: "wer", operator: "<", threshold: 0.4 },
    ]);
  });

  it("refuses unknown metrics, stats and mixed-up units with a clear error", () => {
    expect(() => parseSlo("latency<2s")).toThrow(SloSyntaxError);
    expect(() => parseSlo("partial_lag_p42<2s")).toThrow(/unknown metric/);
    expect(() => parseSlo("partial_lag_p95<2%")).toThrow(/latency/);
    expect(() => parseSlo("errors<2s")).toThrow(/ratio/);
    expect(() => parseSlo("partial_lag_p95 2s")).toThrow(/cannot read/);
  });

  it("refuses objectives that could never fail: a ratio above the whole without %, an empty list", () => {
    expect(() => parseSlo("errors<5")).toThrow(/write 5%/);
    expect(parseSlo("errors<5%")[0]?.threshold).toBe(0.05);
    expect(parseSlo("errors<1")[0]?.threshold).toBe(1);
    expect(() => parseSlo(",")).toThrow(/no objective/);
    expect(() => parseSlo(" ")).toThrow(/no objective/);
  });

  it("refuses a share above the whole written as % too, for errors and packet loss", () => {
    expect(() => parseSlo("errors<500%")).toThrow(/errors: 500% is more than the whole/);
    expect(() => parseSlo("packet_loss<=150%")).toThrow(/packet_loss: 150% is more than the whole/);
    expect(() => parseSlo("packet_loss<1.5")).toThrow(/write 1.5%/);
    expect(parseSlo("errors<100%")[0]?.threshold).toBe(1);
    expect(parseSlo("packet_loss<0.5%")[0]?.threshold).toBe(0.005);
  });

  it("takes a WER above 1: insertions can make more errors than the reference has words", () => {
    expect(parseSlo("wer<1.2")[0]?.threshold).toBe(1.2);
    expect(parseSlo("wer<=150%")[0]?.threshold).toBe(1.5);
    const measured: MeasuredRun = { ...run([], 0), ratios: { errors: 0, packet_loss: 0, wer: 1.1 } };
    expect(evaluateSlo(parseSlo("wer<1.2"), measured)[0]!.pass).toBe(true);
  });

  it("warns about an objective on first_audio_ack, which mediasoup's RTCP timer bounds, and about nothing else", () => {
    expect(sloWarnings(parseSlo("first_audio_ack_p95<1s,first_audio_ack_max<2s"))).toEqual([
      expect.stringMatching(/first_audio_ack .*RTCP report interval.*not by the node/),
    ]);
    expect(sloWarnings(parseSlo("partial_lag_p95<2s,errors<1%,wer<0.5"))).toEqual([]);
  });

  it("passes and fails on the measured values; a metric with no samples fails", () => {
    const objectives = parseSlo("partial_lag_p95<2s,errors<1%,final_lag_p50<1s");
    const lags = Array.from({ length: 100 }, (_, i) => i * 20); // p95 = 1880 ms
    const results = evaluateSlo(objectives, run(lags, 0));
    expect(results.map((r) => [r.metric, r.actual, r.pass])).toEqual([
      ["partial_lag_p95", 1880, true],
      ["errors", 0, true],
      ["final_lag_p50", null, false],
    ]);
    expect(evaluateSlo(parseSlo("errors<1%"), run([], 0.02))[0]!.pass).toBe(false);
    expect(evaluateSlo(parseSlo("partial_lag_p95<=1880ms"), run(lags, 0))[0]!.pass).toBe(true);
  });

  it("summarises by nearest rank", () => {
    expect(summarize([5, 1, 4, 2, 3])).toEqual({ count: 5, mean: 3, p50: 3, p90: 5, p95: 5, p99: 5, max: 5 });
    expect(summarize([]).p95).toBeNull();
  });
});
