// Starting the Python speech worker as a child process: a start that fails or
// stalls leaves no process behind and no restarts nobody asked for (start()
// rejected, so nobody holds a handle to stop them); a worker that crashes
// after it started is restarted.
import { type SpawnOptions, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { RecognizeRequestSchema } from "@parley/proto/asr";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { AsrWorker } from "../src/AsrWorkerPool.ts";
import { AsrWorkerProcess } from "../src/AsrWorkerProcess.ts";

/** Processes whose command line names this worker id (from /proc: no tool needed). */
function processesOf(workerId: string): number {
  let n = 0;
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(workerId)) n++;
    } catch {
      /* it ended meanwhile */
    }
  }
  return n;
}

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

const workerId = (what: string) => `${what}-${process.pid}-${Date.now()}`;
const lifecycle = (lines: string[]) =>
  lines
    .map((l) => JSON.parse(l).msg as string)
    .filter((m) => /^speech worker (started|exited|restart failed)$/.test(m));

describe("the speech worker process", () => {
  it("kills a worker that does not start in time, and does not start it again", async () => {
    const id = workerId("slow");
    const { logger, lines } = capturingLogger();
    await expect(AsrWorkerProcess.start({ logger, workerId: id, restart: true, startTimeoutMs: 50 })).rejects.toThrow(
      /did not start within 50 ms/,
    );
    await expect.poll(() => processesOf(id), { timeout: 10_000 }).toBe(0);
    await new Promise((r) => setTimeout(r, 1_500)); // longer than the first restart's wait
    expect(processesOf(id)).toBe(0);
    expect(lifecycle(lines)).toEqual([]);
  });

  it("does not restart a worker whose first start failed", async () => {
    const id = workerId("broken");
    const { logger, lines } = capturingLogger();
    await expect(
      AsrWorkerProcess.start({ logger, workerId: id, restart: true, extraArgs: ["--no-such-flag"] }),
    ).rejects.toThrow(/exited during start/);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(lifecycle(lines)).toEqual([]);
    expect(processesOf(id)).toBe(0);
  });

  it("restarts a worker that crashed after it started, on the same port", async () => {
    const id = workerId("crashing");
    const { logger, lines } = capturingLogger();
    const worker = await AsrWorkerProcess.start({ logger, workerId: id, restart: true });
    try {
      const first = worker.pid;
      worker.kill();
      await expect
        .poll(() => lifecycle(lines), { timeout: 30_000 })
        .toEqual(["speech worker started", "speech worker exited", "speech worker started"]);
      expect(worker.pid).not.toBe(first);
      expect(processesOf(id)).toBe(1);
    } finally {
      await worker.stop();
    }
    expect(processesOf(id)).toBe(0);
  });

  it("keeps restarting a worker whose restarts cannot even be spawned, without taking the node down", async () => {
    const id = workerId("unspawnable");
    const { logger, lines } = capturingLogger();
    // The machine refuses the next two processes (as EAGAIN or a removed environment would), then lets one start.
    let spawns = 0;
    const spawnChild = ((command: string, args: readonly string[], options: SpawnOptions) =>
      spawn(++spawns === 2 || spawns === 3 ? "/nonexistent/python" : command, args, options)) as typeof spawn;
    const worker = await AsrWorkerProcess.start({ logger, workerId: id, restart: true, spawnChild });
    try {
      worker.kill();
      await expect.poll(() => spawns, { timeout: 30_000 }).toBe(4);
      await expect.poll(() => lifecycle(lines).at(-1), { timeout: 30_000 }).toBe("speech worker started");
      expect(lifecycle(lines).filter((m) => m === "speech worker restart failed")).toHaveLength(2);
      expect(processesOf(id)).toBe(1);
    } finally {
      await worker.stop();
    }
  }, 60_000);

  it("logs a stream it rejects with the session's id", async () => {
    const { logger, lines } = capturingLogger();
    const worker = await AsrWorkerProcess.start({ logger, workerId: workerId("rejecting") });
    const client = new AsrWorker(worker.address);
    try {
      const call = client.recognize(10_000);
      const failed = new Promise<{ code?: number }>((resolve) => call.on("error", resolve));
      call.write(
        create(RecognizeRequestSchema, {
          kind: { case: "config", value: { sessionId: "rejected-session", sampleRateHz: 8_000 } },
        }),
      );
      expect((await failed).code).toBe(3); // INVALID_ARGUMENT
      // The worker's JSON line, as a node log line of its own that names the session as sessionId.
      const rejected = async () =>
        lines
          .map((l) => JSON.parse(l) as { msg: string; sessionId?: string })
          .filter((l) => l.msg === "speech worker: stream_rejected")
          .map((l) => l.sessionId);
      await expect.poll(rejected, { timeout: 10_000 }).toEqual(["rejected-session"]);
    } finally {
      client.close();
      await worker.stop();
    }
  });
});
