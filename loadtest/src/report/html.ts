// A self-contained HTML report (no scripts, no external files): the summary,
// the objectives, latency plots over time, the node's and the generator's
// load over time, errors and every session. Plots are inline SVG.
import type { LoadTestReport } from "./report.ts";
import type { Summary } from "./stats.ts";
import { audioStretchedWarning, RSS_FELL } from "./table.ts";

type Point = [number, number];
interface Series {
  name: string;
  color: string;
  points: Point[];
  line?: boolean;
  radius?: number;
}

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const fmt = (v: number | null, digits = 0) => (v === null ? "–" : v.toFixed(digits));
const pct = (v: number | null) => (v === null ? "–" : `${(v * 100).toFixed(2)} %`);

/** The largest value of the series, at least 1 (a loop: spreading 150 000 values as arguments overflows the stack). */
function maxValue(series: Series[]): number {
  let max = 1;
  for (const s of series) for (const p of s.points) if (p[1] > max) max = p[1];
  return max;
}

/** A "nice" upper bound for an axis. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function chart(title: string, series: Series[], opts: { yLabel: string; xMaxS: number; yMax?: number }): string {
  const W = 900;
  const H = 300;
  const L = 60;
  const R = 20;
  const T = 30;
  const B = 40;
  const xMax = Math.max(1, opts.xMaxS);
  const yMax = niceMax(opts.yMax ?? maxValue(series));
  const x = (ms: number) => L + (ms / 1000 / xMax) * (W - L - R);
  const y = (v: number) => T + (1 - Math.min(v, yMax) / yMax) * (H - T - B);
  const parts: string[] = [];
  parts.push(`<text x="${L}" y="18" class="title">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (yMax * i) / 5;
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    parts.push(`<text x="${L - 6}" y="${y(v) + 4}" class="tick" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  const xStep = niceMax(xMax / 8);
  for (let s = 0; s <= xMax + 1e-9; s += xStep) {
    parts.push(`<line x1="${x(s * 1000)}" x2="${x(s * 1000)}" y1="${T}" y2="${H - B}" class="grid"/>`);
    parts.push(
      `<text x="${x(s * 1000)}" y="${H - B + 16}" class="tick" text-anchor="middle">${+s.toPrecision(3)}</text>`,
    );
  }
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" class="tick" text-anchor="middle">seconds since start</text>`);
  parts.push(
    `<text x="14" y="${(T + H - B) / 2}" class="tick" text-anchor="middle" transform="rotate(-90 14 ${(T + H - B) / 2})">${esc(opts.yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    if (s.line) {
      const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
      if (d) parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    } else {
      const r = s.radius ?? 2;
      for (const p of s.points)
        parts.push(
          `<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[1]).toFixed(1)}" r="${r}" fill="${s.color}" fill-opacity="0.55"/>`,
        );
    }
    const lx = W - R - 200;
    const ly = T + 14 + i * 16;
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly}" class="tick">${esc(s.name)} (${s.points.length})</text>`);
  });
  return `<svg viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="${esc(title)}">${parts.join("")}</svg>`;
}

function summaryRows(report: LoadTestReport): string {
  const labels: [keyof LoadTestReport["latencyMs"], string][] = [
    ["join", "join: created → ICE+DTLS up"],
    ["join_created", "session created"],
    ["join_socket", "socket joined"],
    ["join_signalled", "transport signalled"],
    ["join_ice_dtls", "ICE + DTLS connected"],
    ["first_audio_ack", "first audio acknowledged (RTCP RR)*"],
    ["first_partial", "speech onset → first partial"],
    ["partial_lag", "partial lag: audio → event"],
    ["final_lag", "end of speech → final"],
    ["score_lag", "end of speech → score update"],
    ["jitter", "jitter at the SFU"],
    ["rtt", "round trip (RTCP)"],
  ];
  return labels
    .map(([k, label]) => {
      const s: Summary = report.latencyMs[k];
      return `<tr><td>${esc(label)}</td><td>${s.count}</td>${[s.p50, s.p90, s.p95, s.p99, s.max].map((v) => `<td>${fmt(v, 1)}</td>`).join("")}</tr>`;
    })
    .join("");
}

const FIRST_AUDIO_ACK_NOTE =
  "* bounded by mediasoup's RTCP report interval (1–1.5 s, at random), not by the node: the SFU acknowledges audio only in its next receiver report.";

export function htmlReport(report: LoadTestReport): string {
  const xMaxS = Math.max(1, report.wallMs / 1000);
  const lat = report.latencyMs;
  const latencyCap = Math.max(
    1,
    ...[lat.partial_lag.p99, lat.final_lag.p99, lat.score_lag.p99, lat.first_partial.max].map((v) => v ?? 0),
  );
  const t = report.totals;
  const ps = report.server.perSession;
  const g = report.generator;
  const slo = report.slo
    ? `<h2>Objectives: ${report.slo.pass ? '<span class="pass">met</span>' : '<span class="fail">missed</span>'}</h2>
<table><tr><th>objective</th><th>measured</th><th></th></tr>${report.slo.objectives
        .map(
          (o) =>
            `<tr><td><code>${esc(o.expression)}</code></td><td>${o.actual === null ? "nothing" : /^(errors|packet_loss|wer)$/.test(o.metric) ? pct(o.actual) : `${fmt(o.actual, 1)} ms`}</td><td class="${o.pass ? "pass" : "fail"}">${o.pass ? "pass" : "FAIL"}</td></tr>`,
        )
        .join("")}</table>`
    : "";
  const errors = report.errors.length
    ? `<h2>Errors</h2><table><tr><th>stage</th><th>kind</th><th>count</th><th>example</th></tr>${report.errors
        .map(
          (e) =>
            `<tr><td>${esc(e.stage)}</td><td>${esc(e.kind)}</td><td>${e.count}</td><td>${esc(e.example)}</td></tr>`,
        )
        .join("")}</table>`
    : "";
  const sessions = report.sessions
    .map(
      (s) =>
        `<tr><td>${s.slot}</td><td><code>${esc((s.sessionId ?? "–").slice(0, 8))}</code></td><td>${esc(s.recording)}</td><td>${esc(s.outcome)}</td><td>${fmt(s.stagesMs.join)}</td><td>${fmt(s.firstPartialMs)}</td><td>${fmt(s.partialLagP95Ms)}</td><td>${s.partials}/${s.finals}/${s.scores}</td><td>${s.mediaResets}</td><td>${s.wer === null ? "–" : pct(s.wer)}</td><td>${s.packets.sent}/${s.packets.lost ?? "–"}/${s.packets.unconfirmed}</td><td>${s.errors.map((e) => esc(`${e.stage}/${e.kind}`)).join(", ")}</td></tr>`,
    )
    .join("");
  const stretched = audioStretchedWarning(report, "the lags below");
  const warn =
    (g.limited
      ? `<p class="fail">The load generator was the bottleneck of this run: ${esc(g.reasons.join("; "))}. Its figures describe the generator as much as the node.</p>`
      : "") + (stretched ? `<p class="fail">Warning: ${esc(stretched)}.</p>` : "");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parley load test ${esc(report.startedAt)}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:960px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
table{border-collapse:collapse;width:100%;margin:6px 0}td,th{padding:3px 8px;border-bottom:1px solid #e3e6ec;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f4f6f9;font-weight:600}
.meta{color:#5b6475}.pass{color:#137333;font-weight:600}.fail{color:#b3261e;font-weight:600}
svg .grid{stroke:#e6e8ee}svg .tick{font-size:11px;fill:#5b6475}svg .title{font-size:14px;font-weight:600;fill:#1d2330}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #e3e6ec;border-radius:6px;padding:8px 12px;min-width:140px}
.card b{display:block;font-size:20px}
</style></head><body>
<h1>Parley load test</h1>
<p class="meta">${esc(report.target.url)} · ${esc(report.startedAt)} · ${(report.wallMs / 1000).toFixed(0)} s · ${report.options.sessions} sessions at ${report.options.rampPerSecond}/s${report.options.loop ? ", looped" : ""} · ${esc(report.options.recordings.map((r) => r.id).join(", "))}${report.interrupted ? " · interrupted" : ""}</p>
<div class="cards">
<div class="card">sessions<b>${t.sessionsConnected}/${t.sessionsStarted}</b>connected</div>
<div class="card">errors<b>${pct(t.errorRate)}</b>of sessions</div>
<div class="card">partial lag p95<b>${fmt(lat.partial_lag.p95)} ms</b></div>
<div class="card">first partial p50<b>${fmt(lat.first_partial.p50)} ms</b></div>
<div class="card">WER<b>${pct(report.wer.corpus)}</b>${report.wer.sessions} sessions</div>
<div class="card">node CPU / session<b>${ps.nodeCpuPercent === null ? "–" : `${ps.nodeCpuPercent.toFixed(2)} %`}</b>of a core</div>
</div>
${warn}
${slo}
<h2>Latency over time</h2>
${chart(
  "Latency of each event (ms) by when it arrived",
  [
    { name: "partial lag", color: "#3b6fd8", points: report.series.partialLag },
    { name: "end of speech → final", color: "#e8710a", points: report.series.finalLag, radius: 3 },
    { name: "end of speech → score", color: "#188038", points: report.series.scoreLag, radius: 3 },
    { name: "speech onset → first partial", color: "#c5221f", points: report.series.firstPartial, radius: 4 },
  ],
  { yLabel: "ms", xMaxS, yMax: latencyCap },
)}
${chart("Joining (ms), by when the session started", [{ name: "created → ICE+DTLS up", color: "#8430ce", points: report.series.join, radius: 4 }], { yLabel: "ms", xMaxS })}
<h2>Load over time</h2>
${chart(
  "CPU (% of one core) and live sessions",
  [
    { name: "node CPU %", color: "#3b6fd8", points: report.series.serverCpuPercent, line: true },
    { name: "generator CPU %", color: "#e8710a", points: report.series.generatorCpuPercent, line: true },
    { name: "live sessions", color: "#188038", points: report.series.activeSessions, line: true },
  ],
  { yLabel: "% / sessions", xMaxS },
)}
<h2>Summary (ms)</h2>
<table><tr><th>metric</th><th>count</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>max</th></tr>${summaryRows(report)}</table>
<p class="meta">${esc(FIRST_AUDIO_ACK_NOTE)}</p>
<p>${t.partials} partials, ${t.finals} finals, ${t.scores} scores · packets ${t.packetsSent} sent, ${t.packetsLost} lost (${pct(t.packetLoss)}), ${t.packetsUnconfirmed} unconfirmed (sent into media the node then lost, after its last receiver report: left out of the loss share) · peak ${t.peakConcurrentSessions} live sessions · ${t.mediaResets} media resets (the node moved a session's media; its latencies stop there)</p>
<h2>The node and the generator</h2>
<table>
<tr><td>node CPU (metrics)</td><td>${fmt(report.server.cpuPercent.mean, 1)} % mean, ${fmt(report.server.cpuPercent.max, 1)} % max</td></tr>
<tr><td>per live session (steady state, ${ps.samples} s)</td><td>node ${ps.nodeCpuPercent === null ? "–" : ps.nodeCpuPercent.toFixed(3)} % · mediasoup ${ps.mediasoupCpuPercent === null ? "–" : ps.mediasoupCpuPercent.toFixed(3)} % · speech engine ${ps.speechCpuPercent === null ? "–" : ps.speechCpuPercent.toFixed(3)} % of a core · memory ${ps.rssBytes !== null ? `${(ps.rssBytes / 1048576).toFixed(1)} MiB` : ps.rssFell ? esc(RSS_FELL) : "–"}</td></tr>
<tr><td>node event-loop lag p99</td><td>${fmt(report.server.eventLoopLagMs.max, 1)} ms at worst</td></tr>
<tr><td>generator CPU</td><td>${fmt(g.steadyCpuPercent.mean, 1)} % in steady state (${g.steadyCpuPercent.count} samples at peak), ${fmt(g.cpuPercent.mean, 1)} % whole-run mean, ${fmt(g.cpuPercent.max, 1)} % max of a core; packets late p99 ${fmt(g.sendLatenessMs.p99, 1)} ms</td></tr>
<tr><td>machine</td><td>${report.machine.cores} cores, ${fmt(report.machine.busyPercentMean, 0)} % busy, load ${esc(report.machine.loadAverageStart.join(" "))} → ${esc(report.machine.loadAverageEnd.join(" "))}</td></tr>
${report.server.metricsProblem ? `<tr><td>metrics</td><td>${esc(report.server.metricsProblem)}</td></tr>` : ""}
${report.server.processProblem ? `<tr><td>node process</td><td>${esc(report.server.processProblem)}</td></tr>` : ""}
</table>
${errors}
<h2>Sessions</h2>
<table><tr><th>slot</th><th>session</th><th>recording</th><th>outcome</th><th>join ms</th><th>first partial ms</th><th>partial lag p95</th><th>partials/finals/scores</th><th>media resets</th><th>WER</th><th>packets sent/lost/unconfirmed</th><th>errors</th></tr>${sessions}</table>
</body></html>
`;
}
