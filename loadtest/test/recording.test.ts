// Recordings: Ogg/Opus read packet by packet (made by Debian's opusenc, an
// encoder independent of ours), WAV encoded to 20 ms packets, speech found.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OggOpusError, opusPacketSamples, readOggOpus } from "../src/audio/oggOpus.ts";
import { loadRecording, RecordingError, recordingFiles } from "../src/audio/Recording.ts";
import { main } from "../src/cli.ts";
import { librivoxRecordings } from "../src/recordings.ts";
import { LOOP_MONITOR_RESOLUTION_MS, loopDelayMs } from "../src/run/loopDelay.ts";
import { LOCAL_NODE_METRICS_URL, parseCli, parseDuration, UsageError } from "../src/run/options.ts";
import { parsePrometheus } from "../src/run/ServerWatch.ts";

const dir = mkdtempSync(path.join(tmpdir(), "parley-recordings-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const [rec] = librivoxRecordings().sort((a, b) => b.seconds - a.seconds);

describe("recordings", () => {
  it("reads Ogg/Opus packets as opusenc wrote them, with their durations", () => {
    const file = path.join(dir, "speech.opus");
    execFileSync("opusenc", ["--quiet", "--framesize", "40", rec!.wav, file]);
    writeFileSync(path.join(dir, "speech.txt"), `${rec!.reference}\n`);
    const ogg = readOggOpus(readFileSync(file));
    expect(ogg.channels).toBe(1);
    expect(ogg.packets.every((p) => opusPacketSamples(p) === 1920)).toBe(true); // 40 ms frames
    const loaded = loadRecording(file);
    expect(loaded.format).toBe("ogg-opus");
    expect(loaded.reference).toBe(rec!.reference);
    expect(loaded.durationMs).toBeGreaterThanOrEqual(rec!.seconds * 1000);
    expect(loaded.durationMs).toBeLessThan(rec!.seconds * 1000 + 100);
    expect(loaded.speechOnsetMs).toBeLessThan(loaded.speechEndMs);
    expect(loaded.speechEndMs).toBeLessThanOrEqual(loaded.durationMs);
  });

  it("encodes WAV to 20 ms packets and finds the same speech span", () => {
    const wav = loadRecording(rec!.wav, rec!.reference);
    expect(wav.format).toBe("wav");
    expect(wav.packets.length).toBe(Math.floor((rec!.seconds * 1000) / 20));
    const ogg = loadRecording(path.join(dir, "speech.opus"));
    expect(Math.abs(wav.speechOnsetMs - ogg.speechOnsetMs)).toBeLessThanOrEqual(100);
    expect(Math.abs(wav.speechEndMs - ogg.speechEndMs)).toBeLessThanOrEqual(100);
  });

  it("encodes a pause in WAV as the app's browser does with DTX: a packet per 400 ms, the same timeline", () => {
    const own = mkdtempSync(path.join(tmpdir(), "parley-paused-"));
    const paused = path.join(own, "paused.wav");
    // The recording, 3 s of digital silence, the recording again.
    execFileSync("sox", [rec!.wav, rec!.wav, paused, "pad", `3@${rec!.seconds}`]);
    const dtx = loadRecording(paused);
    const every = loadRecording(paused, undefined, { dtx: false });
    expect(every.packets.every((p) => p.length > 0)).toBe(true);
    expect(dtx.packets.length).toBe(every.packets.length);
    expect(dtx.durationMs).toBe(every.durationMs);
    // In the pause (packets 50 to 100 after the recording's end): at most one in 20 sent.
    const start = Math.ceil((rec!.seconds * 1000) / 20) + 50;
    const inPause = dtx.packets.slice(start, start + 100);
    const sent = inPause.filter((p) => p.length > 0).length;
    expect(sent).toBeGreaterThanOrEqual(4);
    expect(sent).toBeLessThanOrEqual(6);
    rmSync(own, { recursive: true });
  });

  it("refuses what is not audio with a typed error", () => {
    const bad = path.join(dir, "bad.ogg");
    writeFileSync(bad, "OggS but not really");
    expect(() => readOggOpus(readFileSync(bad))).toThrow(OggOpusError);
    expect(() => recordingFiles(path.join(dir, "missing.wav"))).toThrow(RecordingError);
    const empty = mkdtempSync(path.join(tmpdir(), "parley-empty-"));
    expect(() => recordingFiles(empty)).toThrow(/no audio files/);
    rmSync(empty, { recursive: true });
    expect(recordingFiles(dir)).toEqual([bad, path.join(dir, "speech.opus")]);
  });

  it("refuses a damaged Ogg/Opus file as a recording error, which the CLI reports as bad usage", async () => {
    const whole = readFileSync(path.join(dir, "speech.opus"));
    const cut = path.join(mkdtempSync(path.join(tmpdir(), "parley-cut-")), "cut.opus");
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    expect(() => loadRecording(cut)).toThrow(RecordingError);
    expect(await main(["-r", cut, "-d", "1s"])).toBe(2);
  });

  it("refuses a reference transcript with no words, naming it: a WER against nothing means nothing", async () => {
    const own = mkdtempSync(path.join(tmpdir(), "parley-noref-"));
    const wav = path.join(own, "quiet.wav");
    writeFileSync(wav, readFileSync(rec!.wav));
    for (const blank of ["", "  \n\t\n", " ... , "]) {
      writeFileSync(path.join(own, "quiet.txt"), blank);
      expect(() => loadRecording(wav)).toThrow(RecordingError);
      expect(() => loadRecording(wav)).toThrow(`${path.join(own, "quiet.txt")} has no words`);
    }
    expect(() => loadRecording(wav, " ")).toThrow(/the reference transcript of .*quiet\.wav has no words/);
    expect(await main(["-r", wav, "-d", "1s"])).toBe(2);
    rmSync(own, { recursive: true });
  });
});

describe("command line", () => {
  it("reads durations and options", () => {
    expect(parseDuration("90s", "x")).toBe(90_000);
    expect(parseDuration("2m", "x")).toBe(120_000);
    expect(parseDuration("1500ms", "x")).toBe(1500);
    // Zero, and past what a Node timer holds (it would fire at once), are refused.
    for (const bad of ["0", "0s", "600h", "25000h"]) expect(() => parseDuration(bad, "x")).toThrow(UsageError);
    expect(parseDuration("24h", "x")).toBe(86_400_000);
    const o = parseCli(["--url", "http://h:1/", "-n", "4", "--ramp", "0.5", "-r", rec!.wav, "--slo", "errors<1%"]);
    expect(o).toMatchObject({ endpoint: { url: "http://h:1" }, metricsUrl: "http://h:1/metrics", sessions: 4 });
    expect(parseCli(["--metrics-url", "none", "-r", rec!.wav])).toMatchObject({ metricsUrl: undefined, dtx: true });
    expect(parseCli(["--no-dtx", "-r", rec!.wav])).toMatchObject({ dtx: false });
  });

  it("watches a node on this machine on its internal listener, another on its public /metrics with a token", () => {
    const cli = (args: string[], env: Record<string, string> = {}) =>
      parseCli([...args, "-r", rec!.wav], new Date(), env);
    for (const local of [[], ["--url", "http://localhost:8080"], ["--url", "http://[::1]:8080"]])
      expect(cli(local)).toMatchObject({ metricsUrl: LOCAL_NODE_METRICS_URL, metricsToken: undefined });
    expect(LOCAL_NODE_METRICS_URL).toBe("http://127.0.0.1:9464/metrics");
    expect(cli(["--url", "https://parley.example"])).toMatchObject({ metricsUrl: "https://parley.example/metrics" });
    expect(cli(["--metrics-url", "http://10.0.0.5:9464/metrics"])).toMatchObject({
      metricsUrl: "http://10.0.0.5:9464/metrics",
    });
    expect(cli(["--metrics-token", "t1"], { METRICS_AUTH_TOKEN: "t2" })).toMatchObject({ metricsToken: "t1" });
    expect(cli([], { METRICS_AUTH_TOKEN: "t2" })).toMatchObject({ metricsToken: "t2" });
  });

  it("exits 2 with the reason on bad usage, before touching any node", async () => {
    expect(() => parseCli(["-n", "0"])).toThrow(UsageError);
    expect(() => parseCli(["--bogus"])).toThrow(UsageError);
    expect(() => parseCli(["--slo", "nonsense<1"])).toThrow(/unknown metric/);
    // An empty list would judge nothing: the run would pass whatever happened.
    for (const empty of ["", " ", ","])
      expect(() => parseCli(["--slo", empty, "-r", rec!.wav])).toThrow(/no objective/);
    // A process that is not there would read as a node using no CPU and no memory (pid_max is at most 2^22).
    expect(() => parseCli(["--server-pid", String(2 ** 22 + 1), "-r", rec!.wav])).toThrow(
      /--server-pid: no process 4194305 on this machine/,
    );
    expect(parseCli(["--server-pid", String(process.pid), "-r", rec!.wav])).toMatchObject({ serverPid: process.pid });
    expect(await main(["--duration", "soon"])).toBe(2);
    expect(await main(["--url", "http://127.0.0.1:9", "-r", rec!.wav, "-d", "1s"])).toBe(2); // nobody there
  });

  it("reads an event-loop delay histogram as the loop's delay, not its timer's interval", () => {
    // The histogram holds the 10 ms timer's whole interval: 10.4 ms is a loop 0.4 ms late.
    expect(loopDelayMs(10.4e6)).toBeCloseTo(0.4, 9);
    expect(loopDelayMs(LOOP_MONITOR_RESOLUTION_MS * 1e6)).toBe(0);
    // A tick after a late one comes early: no delay, not a negative one.
    expect(loopDelayMs(9.7e6)).toBe(0);
    // prom-client's gauges are in seconds.
    expect(loopDelayMs(0.0125, "s")).toBeCloseTo(2.5, 9);
    expect(loopDelayMs(0.004, "s")).toBe(0);
  });

  it("reads Prometheus text", () => {
    const m = parsePrometheus(
      '# HELP x\nprocess_cpu_seconds_total 12.5\nnodejs_eventloop_lag_p99_seconds 0.012\nhttp_requests_total{route="/"} 3\n',
    );
    expect(m.get("process_cpu_seconds_total")).toBe(12.5);
    expect(m.get("nodejs_eventloop_lag_p99_seconds")).toBe(0.012);
    expect(m.get("http_requests_total")).toBe(3);
  });
});
