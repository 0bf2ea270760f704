// Watches the node while the load runs: its CPU, memory, event-loop lag and
// live sessions from its Prometheus endpoint (its internal listener, or the
// public /metrics with the node's bearer token: --metrics-url,
// --metrics-token), and, for a node on this machine (--server-pid), the CPU
// of each of its processes from /proc: the node, its mediasoup workers and a
// speech worker it spawned, apart.
import { readdirSync, readFileSync } from "node:fs";
import { loopDelayMs } from "./loopDelay.ts";
import { CLK_TCK, cpuTicks, rssBytes } from "./proc.ts";

export interface ServerSample {
  /** ms since the run started. */
  t: number;
  /** From the metrics endpoint. */
  cpuPercent: number | null;
  rssBytes: number | null;
  eventLoopLagMs: number | null;
  activeSessions: number | null;
  /**
   * The node's voice_audio_stretched_seconds_total: audio it placed late
   * because it came after the node had filled its place with silence (a stall).
   */
  audioStretchedSeconds: number | null;
  /** From /proc (--server-pid): CPU of each kind of process, % of one core. */
  processes: { node: number; mediasoup: number; speech: number; other: number } | null;
  /** The node process's resident memory from /proc (--server-pid). */
  processRssBytes: number | null;
}

/** The samples of Prometheus text exposition that we read, by metric name (first series wins). */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    if (!out.has(name)) out.set(name, Number(m[3]));
  }
  return out;
}

type Kind = "node" | "mediasoup" | "speech" | "other";

/** A node's public listener hides /metrics (404) or asks for its token (401). */
const refusalHint = (status: number) =>
  status === 401 || status === 404
    ? " (a node serves /metrics on its internal listener, 127.0.0.1:9464 by default, and publicly only to" +
      " METRICS_AUTH_TOKEN: give --metrics-url or --metrics-token)"
    : "";

export class ServerWatch {
  readonly samples: ServerSample[] = [];
  /** The first sample, taken before any session started (no CPU figures: nothing to compare with). */
  baseline: ServerSample | undefined;
  /** Why the metrics endpoint gave nothing (once), if it did not. */
  metricsProblem: string | undefined;
  metricsSeen = false;
  /** Why /proc gave nothing of --server-pid from some point on (the process was gone), if it did not. */
  processProblem: string | undefined;
  readonly #metricsUrl: string | undefined;
  readonly #metricsHeaders: Record<string, string>;
  readonly #pid: number | undefined;
  readonly #runStartMs: number;
  #inFlight: Promise<ServerSample> | undefined;
  #last: { at: number; cpuSeconds: number | null; ticks: Map<number, { kind: Kind; ticks: number }> } | undefined;

  constructor(options: {
    metricsUrl: string | undefined;
    metricsToken?: string | undefined;
    pid: number | undefined;
    runStartMs: number;
  }) {
    this.#metricsUrl = options.metricsUrl;
    this.#metricsHeaders = options.metricsToken ? { authorization: `Bearer ${options.metricsToken}` } : {};
    this.#pid = options.pid;
    this.#runStartMs = options.runStartMs;
  }

  /**
   * Takes a sample; while one is under way (a slow /metrics), that one's
   * answer: samples never overlap, so each interval is counted once.
   */
  sample(): Promise<ServerSample> {
    this.#inFlight ??= this.#take().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #take(): Promise<ServerSample> {
    let metrics: Map<string, number> | undefined;
    if (this.#metricsUrl) {
      try {
        const res = await fetch(this.#metricsUrl, {
          headers: this.#metricsHeaders,
          signal: AbortSignal.timeout(2_000),
        });
        if (res.ok) {
          metrics = parsePrometheus(await res.text());
          this.metricsSeen = true;
        } else this.metricsProblem ??= `${this.#metricsUrl} answered ${res.status}${refusalHint(res.status)}`;
      } catch (error) {
        this.metricsProblem ??= `${this.#metricsUrl}: ${(error as Error).message}`;
      }
    }
    // When the counters were read: after the node answered (its CPU counter is as of then), with the /proc ticks.
    const at = performance.now();
    const ticks = this.#pid ? processTree(this.#pid) : new Map<number, { kind: Kind; ticks: number }>();
    // Gone (the node stopped, or died): no figures of it rather than a node that used nothing.
    const rss = this.#pid ? rssBytes(this.#pid) : null;
    const gone = this.#pid !== undefined && (!ticks.has(this.#pid) || rss === null);
    if (gone)
      this.processProblem ??= `process ${this.#pid} (--server-pid) was gone ${((at - this.#runStartMs) / 1000).toFixed(1)} s into the run: no CPU or memory of it from then on`;
    const cpuSeconds = metrics?.get("process_cpu_seconds_total") ?? null;
    const last = this.#last;
    const seconds = last ? (at - last.at) / 1000 : 0;
    let cpuPercent: number | null = null;
    if (last && cpuSeconds !== null && last.cpuSeconds !== null && seconds > 0)
      cpuPercent = ((cpuSeconds - last.cpuSeconds) / seconds) * 100;
    let processes: ServerSample["processes"] = null;
    if (this.#pid && !gone && last && seconds > 0) {
      processes = { node: 0, mediasoup: 0, speech: 0, other: 0 };
      for (const [pid, now] of ticks) {
        const before = last.ticks.get(pid)?.ticks ?? 0;
        processes[now.kind] += ((now.ticks - before) / CLK_TCK / seconds) * 100;
      }
    }
    // The p99 is the delay histogram's (its timer's interval taken off); the other, a lone lateness.
    const p99 = metrics?.get("nodejs_eventloop_lag_p99_seconds");
    const lone = metrics?.get("nodejs_eventloop_lag_seconds");
    const lagMs = p99 !== undefined ? loopDelayMs(p99, "s") : lone !== undefined ? lone * 1000 : undefined;
    const sample: ServerSample = {
      t: at - this.#runStartMs,
      cpuPercent,
      rssBytes: metrics?.get("process_resident_memory_bytes") ?? null,
      eventLoopLagMs: lagMs ?? null,
      activeSessions: metrics?.get("voice_sessions_active") ?? null,
      audioStretchedSeconds: metrics?.get("voice_audio_stretched_seconds_total") ?? null,
      processes,
      processRssBytes: gone ? null : rss,
    };
    this.#last = { at, cpuSeconds, ticks };
    if (last) this.samples.push(sample);
    else this.baseline = sample;
    return sample;
  }
}

/** The node and every process below it, with their CPU ticks and what they are. */
function processTree(root: number): Map<number, { kind: Kind; ticks: number }> {
  const parents = new Map<number, number[]>();
  const comms = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      comms.set(Number(entry), stat.slice(stat.indexOf("(") + 1, close));
      const list = parents.get(ppid) ?? [];
      list.push(Number(entry));
      parents.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  const out = new Map<number, { kind: Kind; ticks: number }>();
  const visit = (pid: number, depth: number) => {
    const comm = comms.get(pid);
    if (comm === undefined) return;
    const kind: Kind =
      depth === 0
        ? "node"
        : comm.startsWith("mediasoup")
          ? "mediasoup"
          : /python|parley_asr/.test(comm)
            ? "speech"
            : "other";
    const ticks = cpuTicks(pid);
    if (ticks === null) return; // gone since /proc was listed
    out.set(pid, { kind, ticks });
    for (const child of parents.get(pid) ?? []) visit(child, depth + 1);
  };
  visit(root, 0);
  return out;
}
