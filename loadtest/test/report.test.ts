// The report of made-up runs: what it judges the generator on, how it counts
// media resets, packets of lost media and audio the node placed late, and
// that a long run's HTML stays whole and small.
import { readFileSync } from "node:fs";
import path from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { htmlReport } from "../src/report/html.ts";
import { buildReport } from "../src/report/report.ts";
import { summaryTable } from "../src/report/table.ts";
import { sessionResult, syntheticOptions, syntheticOutcome } from "./syntheticRun.ts";

const schema = JSON.parse(readFileSync(path.join(import.meta.dirname, "../schema/report.schema.json"), "utf8"));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

/** Ten sessions started a second apart, all live from 9 s to 60 s; samples for 80 s. */
const rampedSessions = () => Array.from({ length: 10 }, (_, i) => sessionResult(i, i * 1000, 60_000));
const steadyState = (t: number) => t >= 9_000 && t <= 60_000;

describe("the load test's report", () => {
  it("judges the generator's CPU in steady state, where the ramp and the tail do not dilute it, and says so", () => {
    // Busy while every session sends, idle before and after: 65 % over the whole run, 95 % at peak.
    const outcome = syntheticOutcome(rampedSessions(), 80, (t) => (steadyState(t) ? 95 : 10));
    const report = buildReport(syntheticOptions(10), [], outcome);
    expect(report.generator.cpuPercent.mean).toBeLessThan(85);
    expect(report.generator.steadyCpuPercent).toMatchObject({ count: 52, mean: 95 });
    expect(report.generator.limited).toBe(true);
    expect(report.generator.reasons).toEqual([
      "generator CPU averaged 95 % of a core in steady state (52 samples at peak) (> 85 %)",
    ]);
    expect(summaryTable(report)).toMatch(/generator CPU 95\.0 % in steady state \(52 samples at peak\)/);

    // Busy only while ramping up and closing: not the generator limiting the node's load.
    const calm = buildReport(
      syntheticOptions(10),
      [],
      syntheticOutcome(rampedSessions(), 80, (t) => (steadyState(t) ? 40 : 400)),
    );
    expect(calm.generator.cpuPercent.mean).toBeGreaterThan(85);
    expect(calm.generator.limited).toBe(false);
  });

  it("judges the whole run when no session was ever up, and says so", () => {
    const report = buildReport(
      syntheticOptions(1),
      [],
      syntheticOutcome([], 10, () => 90),
    );
    expect(report.generator.steadyCpuPercent.count).toBe(0);
    expect(report.generator.reasons).toEqual(["generator CPU averaged 90 % of a core over the whole run (> 85 %)"]);
  });

  it("counts media resets per session and in all, shows them, and fits the published schema", () => {
    const sessions = rampedSessions();
    sessions[0]!.mediaResets = 2;
    sessions[3]!.mediaResets = 1;
    const report = buildReport(
      syntheticOptions(10),
      [],
      syntheticOutcome(sessions, 80, () => 10),
    );
    expect(report.totals.mediaResets).toBe(3);
    expect(report.sessions.map((s) => s.mediaResets)).toEqual([2, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    const table = summaryTable(report);
    expect(table).toMatch(/; 3 media resets$/m);
    // The first audio ack is labelled as what bounds it.
    expect(table).toMatch(/first audio ack \(RTCP timer\) \*/);
    expect(table).toMatch(/^\* bounded by mediasoup's RTCP report interval/m);
    expect(htmlReport(report)).toContain("3 media resets");
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
  });

  it("counts packets sent into lost media as unconfirmed, shows them, leaves them out of the loss share, and fits the published schema", () => {
    const sessions = rampedSessions();
    sessions[0]!.mediaResets = 1;
    sessions[0]!.packets = { ...sessions[0]!.packets, sent: 100, lost: 5, unconfirmed: 40 };
    sessions[1]!.packets = { ...sessions[1]!.packets, sent: 100, lost: 1 };
    // No report ever came: its packets count in neither figure of the share.
    sessions[2]!.packets = { ...sessions[2]!.packets, sent: 100, lost: null, unconfirmed: 100 };
    const report = buildReport(
      syntheticOptions(10),
      [],
      syntheticOutcome(sessions, 80, () => 10),
    );
    expect(report.totals).toMatchObject({ packetsSent: 1_000, packetsLost: 6, packetsUnconfirmed: 140 });
    // 6 lost of the 860 packets a report covered (900 of sessions with reports, less 40 unconfirmed).
    expect(report.totals.packetLoss).toBeCloseTo(6 / 860, 10);
    expect(report.sessions.map((s) => s.packets.unconfirmed)).toEqual([40, 0, 100, 0, 0, 0, 0, 0, 0, 0]);
    const table = summaryTable(report);
    expect(table).toMatch(/packets 1000 sent, 6 lost \(0\.70 %\), 140 unconfirmed$/m);
    expect(table).toMatch(/^ {2}unconfirmed: sent into media the node then lost/m);
    const html = htmlReport(report);
    expect(html).toContain("140 unconfirmed");
    expect(html).toContain("<td>100/5/40</td>");
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
    // None: counted, not explained.
    expect(
      summaryTable(
        buildReport(
          syntheticOptions(10),
          [],
          syntheticOutcome(rampedSessions(), 80, () => 10),
        ),
      ),
    ).not.toMatch(/^ {2}unconfirmed:/m);
  });

  it("says how much audio the node placed late during the run, which makes its lags read low", () => {
    const outcome = syntheticOutcome(rampedSessions(), 80, () => 10);
    // The node's counter before the run (other runs' stalls) and at its end, after every session closed.
    outcome.server.baseline = { ...outcome.server.samples[0]!, t: 0, audioStretchedSeconds: 1.5 };
    for (const s of outcome.server.samples) s.audioStretchedSeconds = 1.5;
    outcome.server.samples.at(-1)!.audioStretchedSeconds = 2.25;
    const report = buildReport(syntheticOptions(10), [], outcome);
    expect(report.server.audioStretchedSeconds).toBe(0.75);
    expect(summaryTable(report)).toMatch(/^WARNING: the node placed 0\.75 s of audio late after stalls/m);
    // The HTML report warns as the table does.
    expect(htmlReport(report)).toMatch(
      /Warning: the node placed 0\.75 s of audio late after stalls .*read low by up to that/,
    );
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);

    // No stall, and a node without metrics: no warning, and null rather than 0.
    const calm = syntheticOutcome(rampedSessions(), 80, () => 10);
    calm.server.baseline = { ...calm.server.samples[0]!, t: 0, audioStretchedSeconds: 1.5 };
    for (const s of calm.server.samples) s.audioStretchedSeconds = 1.5;
    expect(summaryTable(buildReport(syntheticOptions(10), [], calm))).not.toMatch(/placed .* late/);
    expect(htmlReport(buildReport(syntheticOptions(10), [], calm))).not.toMatch(/placed .* late/);
    expect(
      buildReport(
        syntheticOptions(10),
        [],
        syntheticOutcome(rampedSessions(), 80, () => 10),
      ).server.audioStretchedSeconds,
    ).toBeNull();
  });

  it("counts the peak of sessions live at once between the node's samples too (a run stopped right after joining)", () => {
    // Three sessions up at 1.3, 1.4 and 1.5 s, all ended at 1.8 s: no sample (one a second) sees one live.
    const sessions = [0, 1, 2].map((i) => sessionResult(i, 1_200 + i * 100, 1_800));
    const report = buildReport(
      syntheticOptions(3),
      [],
      syntheticOutcome(sessions, 5, () => 10),
    );
    expect(report.totals.peakConcurrentSessions).toBe(3);
    expect(summaryTable(report)).toMatch(/; peak 3 at once;/);
    // One ended as the next started, before it was up: never two at once.
    const relay = [sessionResult(0, 0, 2_100), sessionResult(1, 2_100, 5_000)];
    expect(
      buildReport(
        syntheticOptions(2),
        [],
        syntheticOutcome(relay, 6, () => 10),
      ).totals.peakConcurrentSessions,
    ).toBe(1);
  });

  it("gives no memory per session when the node's memory fell during the run, and says why", () => {
    const grew = syntheticOutcome(rampedSessions(), 80, () => 10);
    grew.server.baseline = { ...grew.server.samples[0]!, t: 0, rssBytes: 100e6 };
    const grown = buildReport(syntheticOptions(10), [], grew);
    // 200 MB in steady state with 9 or 10 sessions live, 100 MB before: about 10 MB each.
    expect(grown.server.perSession.rssFell).toBe(false);
    expect(grown.server.perSession.rssBytes).toBeGreaterThan(10e6);
    expect(grown.server.perSession.rssBytes).toBeLessThan(10e6 * (10 / 9));
    expect(summaryTable(grown)).toMatch(/; memory 9\.\d MiB per session;/);
    expect(validate(grown), JSON.stringify(validate.errors, null, 1)).toBe(true);

    const fell = syntheticOutcome(rampedSessions(), 80, () => 10);
    fell.server.baseline = { ...fell.server.samples[0]!, t: 0, rssBytes: 240e6 };
    const report = buildReport(syntheticOptions(10), [], fell);
    expect(report.server.perSession).toMatchObject({ rssBytes: null, rssFell: true });
    expect(summaryTable(report)).toMatch(/; memory per session n\/a \(RSS fell during the run\);/);
    expect(summaryTable(report)).not.toMatch(/MiB per session/);
    expect(htmlReport(report)).toContain("memory n/a (RSS fell during the run)");
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
  });

  it("says when the node's process was gone, and shows no figures of it rather than zeros", () => {
    const outcome = syntheticOutcome(rampedSessions(), 80, () => 10);
    const gone = "process 123 (--server-pid) was gone 30.0 s into the run: no CPU or memory of it from then on";
    outcome.server.processProblem = gone;
    const report = buildReport(syntheticOptions(10), [], outcome);
    expect(report.server.processProblem).toBe(gone);
    expect(summaryTable(report)).toContain(`server process: ${gone}`);
    expect(htmlReport(report)).toContain(`<td>node process</td><td>${gone}</td>`);
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
  });

  it("draws a long run (200 000 samples of each series) in a small HTML report", () => {
    const samples = 200_000;
    const sessions = [sessionResult(0, 0, samples * 1000), sessionResult(1, 5_000, samples * 1000)];
    sessions[0]!.partialLag = Array.from({ length: samples }, (_, i) => [i * 1000, 300 + (i % 500)]);
    const report = buildReport(
      syntheticOptions(2),
      [],
      syntheticOutcome(sessions, samples, (t) => (t / 1000) % 70),
    );
    for (const [name, series] of Object.entries(report.series)) expect(series.length, name).toBeLessThanOrEqual(4_000);
    const s = report.series;
    for (const drawn of [s.partialLag, s.serverCpuPercent, s.serverRssBytes, s.generatorCpuPercent, s.activeSessions])
      expect(drawn.length).toBeGreaterThan(3_000);
    // Thinned evenly: the series still spans the run.
    expect(report.series.generatorCpuPercent.at(-1)![0]).toBeGreaterThan((samples - 100) * 1000);
    const html = htmlReport(report);
    expect(html).toContain("<svg");
    expect(html.length).toBeLessThan(3_000_000);
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);

    // Even given every point (a report made elsewhere), the charts' scales are found without overflowing the stack.
    const points = Array.from({ length: samples }, (_, i) => [i * 1000, i % 100] as [number, number]);
    const unthinned = { ...report, series: { ...report.series, serverCpuPercent: points, partialLag: points } };
    expect(() => htmlReport(unthinned)).not.toThrow();
  });
});
