// Command-line options of `pnpm loadtest`.
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { defaultRecording, type LoadRecording, loadRecording, recordingFiles } from "../audio/Recording.ts";
import type { LoadRunOptions } from "./LoadRun.ts";
import { type Objective, parseSlo } from "./slo.ts";

export const USAGE = `parley loadtest: replays recorded speech as many WebRTC customers against a Parley node

  pnpm loadtest [options]

  --url URL            the node (default http://127.0.0.1:8080)
  --metrics-url URL    its Prometheus endpoint; "none": do not watch. Default: for a node on
                       this machine its internal listener, http://127.0.0.1:9464/metrics;
                       for another, URL/metrics, which a node serves only with the token
  --metrics-token T    bearer token for the public URL/metrics (the node's METRICS_AUTH_TOKEN;
                       default: METRICS_AUTH_TOKEN in this environment)
  --server-pid PID     a node on this machine: CPU of its node, mediasoup and speech processes from /proc
  -n, --sessions N     concurrent sessions (default 10)
  --ramp R             sessions started per second (default 2)
  -d, --duration T     how long the run lasts, e.g. 90s, 2m (default 60s)
  -r, --recording P    a WAV or Ogg/Opus file, or a folder of them; a <name>.txt beside
                       a file is its reference transcript (repeatable; default: the
                       longest librivox recording of pocketsphinx-testdata)
  --loop               replay the recording until the end of the run (default: once)
  --no-dtx             send silence as 50 packets a second (default: Opus DTX, as the app's
                       browser does: in a pause one packet per 400 ms)
  --store CODE         store code of the sessions (default demo)
  --slo LIST           objectives that decide the exit code, e.g. 'partial_lag_p95<2s,errors<1%'
  -o, --out DIR        where report.json and report.html go (default loadtest-results/<time>)
  --end-timeout T      how long the node may take to finalise a session (default 15s)
  --quiet              no progress line

Exit code: 0 run done and every objective met, 1 an objective missed, 2 bad usage or no run
(no node, no session connected, or the report could not be written).`;

/** Bad command-line input. */
export class UsageError extends Error {}

export interface CliOptions extends LoadRunOptions {
  slo: string | null;
  objectives: Objective[];
  outDir: string;
  quiet: boolean;
}

/** "90s", "2m", "1500ms", "30" (seconds) → ms. */
export function parseDuration(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new UsageError(`${what}: cannot read "${text}" as a duration (e.g. 90s, 2m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"];
  const ms = Number(m[1]) * unit;
  // Node's timers fire at once past 2^31 - 1 ms (about 24.8 days): a run that long would stop immediately.
  if (!(ms >= 1) || ms > MAX_TIMER_MS)
    throw new UsageError(`${what}: "${text}" must be at least 1 ms and at most 24 days`);
  return ms;
}

const MAX_TIMER_MS = 2 ** 31 - 1;

function positive(text: string, what: string, integer: boolean): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw new UsageError(`${what} must be a positive ${integer ? "whole " : ""}number, not "${text}"`);
  return v;
}

/** A process on this machine: one that is not there would be read as a node using no CPU and no memory. */
function serverPid(text: string): number {
  const pid = positive(text, "--server-pid", true);
  if (!existsSync(`/proc/${pid}`))
    throw new UsageError(`--server-pid: no process ${pid} on this machine (no /proc/${pid})`);
  return pid;
}

/**
 * Where a node's own metrics are when nothing says otherwise: its internal
 * listener (INTERNAL_HOST 127.0.0.1, INTERNAL_PORT 9464), which only a process
 * on the same machine reaches. The public listener answers /metrics only to
 * METRICS_AUTH_TOKEN.
 */
export const LOCAL_NODE_METRICS_URL = "http://127.0.0.1:9464/metrics";

const isLoopback = (url: string) => /^(localhost|127(\.\d+){3}|\[::1\])$/.test(new URL(url).hostname);

export function parseCli(argv: string[], now = new Date(), env = process.env): CliOptions | "help" {
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(argv).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return "help";
  const url = (values.url ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]+/.test(url)) throw new UsageError(`--url must be http(s)://host[:port], not "${url}"`);
  const metricsUrl =
    values["metrics-url"] === "none"
      ? undefined
      : (values["metrics-url"] ?? (isLoopback(url) ? LOCAL_NODE_METRICS_URL : `${url}/metrics`));
  const metricsToken = values["metrics-token"] ?? (env.METRICS_AUTH_TOKEN || undefined);
  const sessions = positive(values.sessions ?? "10", "--sessions", true);
  const dtx = !values["no-dtx"];
  const recordings: LoadRecording[] = values.recording?.length
    ? values.recording.flatMap((r) => recordingFiles(r)).map((f) => loadRecording(f, undefined, { dtx }))
    : [defaultRecording({ dtx })];
  let objectives: Objective[] = [];
  // An empty list too: it would judge nothing, and the run would pass whatever happened.
  if (values.slo !== undefined) {
    try {
      objectives = parseSlo(values.slo);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  const stamp = now.toISOString().replace(/[:.]/g, "-").slice(0, 19);
  return {
    endpoint: { url },
    metricsUrl,
    metricsToken,
    serverPid: values["server-pid"] !== undefined ? serverPid(values["server-pid"]) : undefined,
    sessions,
    rampPerSecond: positive(values.ramp ?? "2", "--ramp", false),
    durationMs: parseDuration(values.duration ?? "60s", "--duration"),
    loop: values.loop ?? false,
    storeCode: values.store ?? "demo",
    recordings,
    tailSilenceMs: 1_500,
    dtx,
    endTimeoutMs: parseDuration(values["end-timeout"] ?? "15s", "--end-timeout"),
    slo: values.slo ?? null,
    objectives,
    outDir: path.resolve(values.out ?? path.join("loadtest-results", stamp)),
    quiet: values.quiet ?? false,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      url: { type: "string" },
      "metrics-url": { type: "string" },
      "metrics-token": { type: "string" },
      "server-pid": { type: "string" },
      sessions: { type: "string", short: "n" },
      ramp: { type: "string" },
      duration: { type: "string", short: "d" },
      recording: { type: "string", short: "r", multiple: true },
      loop: { type: "boolean" },
      "no-dtx": { type: "boolean" },
      store: { type: "string" },
      slo: { type: "string" },
      out: { type: "string", short: "o" },
      "end-timeout": { type: "string" },
      quiet: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}
