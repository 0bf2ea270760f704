// The summary printed at the end of a run.
import type { LoadTestReport } from "./report.ts";
import type { Summary } from "./stats.ts";

const ROWS: [keyof LoadTestReport["latencyMs"], string][] = [
  ["join", "join (created → ICE+DTLS up)"],
  ["join_created", "  session created"],
  ["join_socket", "  socket joined"],
  ["join_signalled", "  transport signalled"],
  ["join_ice_dtls", "  ICE + DTLS connected"],
  ["first_audio_ack", "first audio ack (RTCP timer) *"],
  ["first_partial", "speech onset → first partial"],
  ["partial_lag", "partial lag (audio → event)"],
  ["final_lag", "end of speech → final"],
  ["score_lag", "end of speech → score update"],
  ["jitter", "jitter at the SFU"],
  ["rtt", "round trip (RTCP)"],
];

/** Why a report has no memory figure per session although it watched the node's memory. */
export const RSS_FELL = "n/a (RSS fell during the run)";

/** The warning of audio the node placed late after stalls, when it did (the table's and the HTML report's). */
export function audioStretchedWarning(report: LoadTestReport, lags = "the lags above"): string | undefined {
  const s = report.server.audioStretchedSeconds;
  return s !== null && s > 0
    ? `the node placed ${s.toFixed(2)} s of audio late after stalls (voice_audio_stretched_seconds_total): ${lags} read low by up to that`
    : undefined;
}

const fmt = (v: number | null) => (v === null ? "-" : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const pct = (v: number | null) => (v === null ? "-" : `${(v * 100).toFixed(2)} %`);

export function summaryTable(report: LoadTestReport): string {
  const lines: string[] = [];
  const head = ["metric (ms)".padEnd(34), ..."count p50 p90 p95 p99 max".split(" ").map((h) => h.padStart(8))];
  lines.push(head.join(""));
  for (const [key, label] of ROWS) {
    const s: Summary = report.latencyMs[key];
    lines.push(
      [
        label.padEnd(34),
        String(s.count).padStart(8),
        ...[s.p50, s.p90, s.p95, s.p99, s.max].map((v) => fmt(v).padStart(8)),
      ].join(""),
    );
  }
  lines.push("* bounded by mediasoup's RTCP report interval (1–1.5 s, at random), not by the node");
  const t = report.totals;
  lines.push("");
  lines.push(
    `sessions ${t.sessionsStarted} started, ${t.sessionsConnected} connected, ${t.sessionsWithErrors} with errors (${pct(t.errorRate)}); peak ${t.peakConcurrentSessions} at once; ${t.mediaResets} media resets`,
  );
  lines.push(
    `events ${t.partials} partials, ${t.finals} finals, ${t.scores} scores; packets ${t.packetsSent} sent, ${t.packetsLost} lost (${pct(t.packetLoss)}), ${t.packetsUnconfirmed} unconfirmed`,
  );
  if (t.packetsUnconfirmed > 0)
    lines.push(
      "  unconfirmed: sent into media the node then lost, after its last receiver report; some arrived, some not: left out of the loss share",
    );
  if (report.wer.corpus !== null)
    lines.push(
      `WER ${pct(report.wer.corpus)} over ${report.wer.sessions} sessions (${report.wer.words} reference words)`,
    );
  for (const e of report.errors) lines.push(`error ${e.stage}/${e.kind} ×${e.count}: ${e.example}`);
  const s = report.server;
  if (s.metricsAvailable || s.perSession.nodeCpuPercent !== null) {
    const ps = s.perSession;
    const parts = [
      ps.nodeCpuPercent !== null ? `node ${ps.nodeCpuPercent.toFixed(2)} %` : null,
      ps.mediasoupCpuPercent !== null ? `mediasoup ${ps.mediasoupCpuPercent.toFixed(2)} %` : null,
      ps.speechCpuPercent !== null ? `speech engine ${ps.speechCpuPercent.toFixed(2)} %` : null,
    ].filter(Boolean);
    lines.push(
      `server CPU ${fmt(s.cpuPercent.mean)} % mean, ${fmt(s.cpuPercent.max)} % max; per session ${parts.join(" + ")} of a core` +
        (ps.rssBytes !== null
          ? `; memory ${(ps.rssBytes / 1048576).toFixed(1)} MiB per session`
          : ps.rssFell
            ? `; memory per session ${RSS_FELL}`
            : "") +
        `; event-loop lag p99 ≤ ${fmt(s.eventLoopLagMs.max)} ms`,
    );
  } else if (s.metricsProblem) lines.push(`server metrics unavailable: ${s.metricsProblem}`);
  if (s.processProblem) lines.push(`server process: ${s.processProblem}`);
  const stretched = audioStretchedWarning(report);
  if (stretched) lines.push(`WARNING: ${stretched}`);
  const g = report.generator;
  lines.push(
    `generator CPU ${fmt(g.steadyCpuPercent.mean)} % in steady state (${g.steadyCpuPercent.count} samples at peak), ${fmt(g.cpuPercent.mean)} % whole-run mean (${fmt(g.cpuPercent.max)} % max) of a core; packets late p99 ${fmt(g.sendLatenessMs.p99)} ms; machine ${fmt(report.machine.busyPercentMean)} % busy of ${report.machine.cores} cores, load ${report.machine.loadAverageStart.join(" ")} → ${report.machine.loadAverageEnd.join(" ")}`,
  );
  if (g.limited) lines.push(`WARNING: the load generator was the bottleneck: ${g.reasons.join("; ")}`);
  if (report.slo) {
    for (const o of report.slo.objectives)
      lines.push(
        `SLO ${o.pass ? "pass" : "FAIL"}  ${o.expression}  (measured ${o.actual === null ? "nothing" : o.metric.match(/^(errors|packet_loss|wer)$/) ? pct(o.actual) : `${fmt(o.actual)} ms`})`,
      );
  }
  return lines.join("\n");
}
