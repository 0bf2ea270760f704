// The load tester against a real local Parley node (its own process: real
// mediasoup worker, the real pocketsphinx speech worker, the uWS edge), with
// 3 sessions replaying real recordings (a WAV and an Ogg/Opus file made by
// Debian's opusenc, each with its reference transcript beside it).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { createDatabaseAt } from "@parley/records/testing";
import { Ajv } from "ajv";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
// Declares the run's Postgres URL that inject() reads (a type-only import).
import type {} from "../../signaling/test/postgres.global.ts";
import { loadRecording } from "../src/audio/Recording.ts";
import { conversationWav, librivoxRecordings } from "../src/recordings.ts";
import type { LoadTestReport } from "../src/report/report.ts";
import { ServerWatch } from "../src/run/ServerWatch.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const schema = JSON.parse(readFileSync(path.join(ROOT, "loadtest/schema/report.schema.json"), "utf8"));
const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

let dir: string;
let node: ChildProcess;
let url: string;
let metricsUrl: string;
let readyUrl: string;
/** The node also serves /metrics publicly, to this bearer token only. */
const METRICS_TOKEN = "loadtest-public-metrics-token";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

interface CliExit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in a process of its own: its exit, its process, and what it wrote to stderr so far (its progress lines). */
function runCli(args: string[]): Promise<CliExit> & { child: ChildProcess; stderrSoFar: () => string } {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "loadtest/src/cli.ts"), ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<CliExit>((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
  return Object.assign(done, { child, stderrSoFar: () => stderr });
}

/** The CLI against this file's node, its report in `out`; quiet unless its progress lines are wanted. */
const runAgainstNode = (out: string, args: string[], { progress = false } = {}) =>
  runCli(["--url", url, "--metrics-url", metricsUrl, "--out", out, ...(progress ? [] : ["--quiet"]), ...args]);

/** The node's mediasoup worker processes (its children). */
function mediasoupWorkers(nodePid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        return ppid === nodePid && comm.startsWith("mediasoup") ? [Number(entry)] : [];
      } catch {
        return []; // gone
      }
    });
}

/** The counts of the CLI's progress lines (on stderr, every 5 s without a terminal), newest last. */
function progressCounts(stderr: string): { partials: number; finals: number; mediaResets: number }[] {
  return [...stderr.matchAll(/ partials (\d+) finals (\d+) .*?errors \d+(?: {2}media resets (\d+))?/g)].map((m) => ({
    partials: Number(m[1]),
    finals: Number(m[2]),
    mediaResets: Number(m[3] ?? 0),
  }));
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}`)).text();
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "parley-loadtest-"));
  const [a, b] = librivoxRecordings().sort((x, y) => y.seconds - x.seconds);
  copyFileSync(a!.wav, path.join(dir, "a.wav"));
  writeFileSync(path.join(dir, "a.txt"), a!.reference);
  execFileSync("opusenc", ["--quiet", "--bitrate", "32", b!.wav, path.join(dir, "b.opus")]);
  writeFileSync(path.join(dir, "b.txt"), b!.reference);
  const port = await freePort();
  const internalPort = await freePort();
  url = `http://127.0.0.1:${port}`;
  // /ready and /metrics are on the node's internal listener.
  metricsUrl = `http://127.0.0.1:${internalPort}/metrics`;
  readyUrl = `http://127.0.0.1:${internalPort}/ready`;
  node = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "signaling/src/main.ts")], {
    cwd: path.join(ROOT, "signaling"),
    env: {
      ...process.env,
      PORT: String(port),
      INTERNAL_PORT: String(internalPort),
      HOST: "127.0.0.1",
      MEDIASOUP_WORKERS: "1",
      LOG_LEVEL: "warn",
      // A fresh database of the run's PostgreSQL cluster, with the demo store.
      DATABASE_URL: await createDatabaseAt(inject("parleyPostgresUrl")),
      PARLEY_SEED_DEMO: "1",
      METRICS_AUTH_TOKEN: METRICS_TOKEN,
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(readyUrl)).ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("node not ready");
}, 90_000);

afterAll(async () => {
  if (node && node.exitCode === null) {
    node.kill("SIGTERM");
    await new Promise((r) => node.once("exit", r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("pnpm loadtest against a real node", () => {
  it("watches a node's public /metrics with its token, and says how to get them without it", async () => {
    const watch = (metricsToken?: string) =>
      new ServerWatch({ metricsUrl: `${url}/metrics`, metricsToken, pid: undefined, runStartMs: performance.now() });
    const withToken = watch(METRICS_TOKEN);
    await withToken.sample();
    expect(withToken.metricsProblem).toBeUndefined();
    expect(withToken.metricsSeen).toBe(true);
    expect(withToken.baseline?.rssBytes).toBeGreaterThan(0);
    expect(typeof withToken.baseline?.activeSessions).toBe("number");

    const without = watch();
    await without.sample();
    expect(without.metricsSeen).toBe(false);
    expect(without.metricsProblem).toMatch(/answered 401 .*--metrics-url or --metrics-token/);
  });

  it("refuses, before any session, a store the node does not have and the node's internal listener for its public one", async () => {
    const nosuch = await runAgainstNode(path.join(dir, "out-nosuch"), ["--store", "nosuch", "-n", "1", "-d", "5s"]);
    expect(nosuch.code, nosuch.stderr).toBe(2);
    expect(nosuch.stderr).toContain(`--store nosuch: the node at ${url} has no such store`);
    const internalUrl = new URL(metricsUrl).origin; // answers /health too
    const internal = await runCli(["--url", internalUrl, "--metrics-url", "none", "--quiet", "-n", "1", "-d", "5s"]);
    expect(internal.code, internal.stderr).toBe(2);
    expect(internal.stderr).toContain(`${internalUrl} is not a Parley node's public listener`);
    expect(existsSync(path.join(dir, "out-nosuch"))).toBe(false); // nothing run, no report folder left
    expect(await metric("voice_sessions_active")).toBe(0);
  }, 60_000);

  it("connects 3 sessions that get partials, finals and a WER; writes a valid JSON and an HTML report; closes every session", async () => {
    const out = path.join(dir, "out-ok");
    const { code, stdout, stderr } = await runAgainstNode(out, [
      "--sessions",
      "3",
      "--ramp",
      "3",
      "--duration",
      "60s",
      "--recording",
      dir,
      "--server-pid",
      String(node.pid),
      "--slo",
      "partial_lag_p95<30s,errors<1%",
    ]);
    console.log(stdout);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as LoadTestReport;
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(report.totals.sessionsStarted).toBe(3);
    expect(report.totals.sessionsConnected).toBe(3);
    expect(report.errors).toEqual([]);
    expect(new Set(report.sessions.map((s) => s.recording))).toEqual(new Set(["a", "b"]));
    expect(report.options.recordings.map((r) => r.format).sort()).toEqual(["ogg-opus", "wav"]);
    for (const s of report.sessions) {
      expect(s.outcome).toBe("completed");
      expect(s.partials).toBeGreaterThan(0);
      expect(s.finals).toBeGreaterThan(0);
      expect(s.wer).not.toBeNull();
      expect(s.wer!).toBeLessThan(1);
      expect(s.stagesMs.iceDtls).not.toBeNull();
      expect(s.firstPartialMs).not.toBeNull();
      expect(s.packets.lost).toBe(0);
    }
    // Silence goes out as a browser with Opus DTX sends it: the recording's
    // packets that carry sound, then one packet per 400 ms of the 1.5 s tail.
    const sounding = (file: string) => loadRecording(path.join(dir, file)).packets.filter((p) => p.length > 0).length;
    const expectedSent: Record<string, number> = { a: sounding("a.wav") + 4, b: sounding("b.opus") + 4 };
    expect(expectedSent.a).toBeGreaterThan(100);
    for (const s of report.sessions) expect(s.packets.sent).toBe(expectedSent[s.recording]);
    expect(report.latencyMs.partial_lag.count).toBeGreaterThan(0);
    expect(report.latencyMs.final_lag.count).toBeGreaterThanOrEqual(3);
    expect(report.wer.sessions).toBe(3);
    expect(report.server.metricsAvailable).toBe(true);
    expect(report.server.perSession.nodeCpuPercent).not.toBeNull();
    expect(report.slo?.pass).toBe(true);
    const html = readFileSync(path.join(out, "report.html"), "utf8");
    expect(html).toContain("<svg");
    expect(html).not.toMatch(/<script|src="http/); // self-contained
    // Every session the tester opened is closed on the node.
    await expect.poll(() => metric("voice_sessions_active"), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => metric("ws_connections"), { timeout: 10_000 }).toBe(0);
  }, 120_000);

  it("exits 1 when an objective is missed, and Ctrl-C ends a looped run with every session closed", async () => {
    const out = path.join(dir, "out-slo");
    // Not --quiet: its progress lines (on stderr, every 5 s) count the partials it has received.
    const running = runAgainstNode(
      out,
      [
        "--sessions",
        "2",
        "--ramp",
        "4",
        "--duration",
        "5m",
        "--loop",
        "--recording",
        path.join(dir, "a.wav"),
        "--slo",
        "first_partial_p50<1ms",
      ],
      { progress: true },
    );
    const partials = () =>
      Math.max(0, ...[...running.stderrSoFar().matchAll(/ partials (\d+) /g)].map((m) => Number(m[1])));
    await expect.poll(() => metric("voice_sessions_active"), { timeout: 30_000, interval: 250 }).toBe(2);
    // Speech flows until the tester has had partials: it has measured a first partial.
    await expect.poll(partials, { timeout: 60_000, interval: 250 }).toBeGreaterThan(0);
    running.child.kill("SIGINT");
    const { code, stderr } = await running;
    expect(code, stderr).toBe(1);
    const report = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as LoadTestReport;
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(report.interrupted).toBe(true);
    expect(report.wallMs).toBeLessThan(5 * 60_000);
    expect(report.slo?.pass).toBe(false);
    expect(report.slo?.objectives[0]?.actual).toBeGreaterThan(1);
    expect(report.sessions.every((s) => s.outcome === "stopped")).toBe(true);
    expect(existsSync(path.join(out, "report.html"))).toBe(true);
    await expect.poll(() => metric("voice_sessions_active"), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => metric("ws_connections"), { timeout: 10_000 }).toBe(0);
  }, 180_000);

  it("sets each session's media up again when the node's media worker dies; the conversations go on", async () => {
    const out = path.join(dir, "out-media-reset");
    // Five utterances with pauses (about 33 s): finals before the worker dies and after.
    const conversation = conversationWav(dir);
    // Not --quiet: its progress lines count partials, finals and media resets as they come.
    const running = runAgainstNode(
      out,
      ["--sessions", "2", "--ramp", "4", "--duration", "90s", "--recording", conversation.wav],
      { progress: true },
    );
    const latest = () => progressCounts(running.stderrSoFar()).at(-1) ?? { partials: 0, finals: 0, mediaResets: 0 };
    await expect.poll(() => metric("voice_sessions_active"), { timeout: 30_000, interval: 250 }).toBe(2);
    // Both talking and heard: a first utterance finalised.
    await expect.poll(() => latest().finals, { timeout: 60_000, interval: 250 }).toBeGreaterThanOrEqual(2);
    const [worker, ...others] = mediasoupWorkers(node.pid!);
    expect(worker).toBeDefined();
    expect(others).toEqual([]);
    process.kill(worker!, "SIGKILL");
    // The node moves both sessions' media and tells them; each sets its media up again.
    await expect.poll(() => latest().mediaResets, { timeout: 30_000, interval: 250 }).toBeGreaterThanOrEqual(2);
    const atReset = latest();
    const { code, stderr } = await running;
    expect(code, stderr).toBe(0);
    const report = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as LoadTestReport;
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(report.totals.mediaResets).toBeGreaterThanOrEqual(2);
    for (const s of report.sessions) {
      expect(s.mediaResets).toBeGreaterThanOrEqual(1);
      // Played to the end, or ended by the conversation itself (the AI's turns can run out first); no error.
      expect(s.outcome).toMatch(/^(completed|server:(MAX_TURNS|NOTHING_LEFT_TO_ASK))$/);
      expect(s.errors).toEqual([]);
    }
    // Partials and finals kept coming after the media moved: the audio sent after it was heard.
    expect(report.totals.partials).toBeGreaterThan(atReset.partials);
    expect(report.totals.finals).toBeGreaterThan(atReset.finals);
    expect(mediasoupWorkers(node.pid!)).not.toContain(worker);
    expect(readFileSync(path.join(out, "report.html"), "utf8")).toContain("media resets");
    await expect.poll(() => metric("voice_sessions_active"), { timeout: 10_000 }).toBe(0);
  }, 180_000);

  // Last: it stops the node.
  it("counts sessions the node loses (it shut down under them) as errors, not as finished conversations", async () => {
    const out = path.join(dir, "out-lost");
    const running = runAgainstNode(out, [
      "--sessions",
      "2",
      "--ramp",
      "4",
      "--duration",
      "60s",
      "--recording",
      path.join(dir, "a.wav"),
      "--slo",
      "errors<1%",
    ]);
    // Both customers joined and talking (their speech is being recognised), mid-recording.
    await expect.poll(() => metric("voice_sessions_active"), { timeout: 30_000, interval: 250 }).toBe(2);
    await expect.poll(() => metric("asr_streams_active"), { timeout: 30_000, interval: 100 }).toBe(2);
    node.kill("SIGINT"); // stops at once: live conversations end with reason SHUTDOWN
    const { code, stderr } = await running;
    expect(code, stderr).toBe(1);
    const report = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as LoadTestReport;
    expect(validate(report), JSON.stringify(validate.errors, null, 1)).toBe(true);
    expect(report.sessions.map((s) => s.outcome)).toEqual(["server:SHUTDOWN", "server:SHUTDOWN"]);
    expect(report.errors).toEqual([expect.objectContaining({ stage: "events", kind: "server_SHUTDOWN", count: 2 })]);
    expect(report.totals.errorRate).toBe(1);
    // Cut short, a recording played once is not judged for WER (its unsent words would count as deletions).
    expect(report.sessions.every((s) => s.wer === null)).toBe(true);
  }, 120_000);
});
