// Which speech workers get new streams: not one whose model hangs (it still
// sends "ready"), not one that reports it is stuck or lagging, and a worker
// that keeps breaking streams sits out longer each time. Against local gRPC
// servers speaking the worker's protocol (recording-recognizer.ts).
import { StreamState } from "@parley/proto/live";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AsrWorkerPool } from "../src/AsrWorkerPool.ts";
import { RecognitionStream } from "../src/RecognitionStream.ts";
import { RecordingRecognizer } from "./recording-recognizer.ts";

const logger = pino({ level: "silent" });
const FRAME = 320; // 20 ms at 16 kHz
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function recognizer(): Promise<RecordingRecognizer> {
  const r = new RecordingRecognizer();
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

function pool(options: ConstructorParameters<typeof AsrWorkerPool>[0]): AsrWorkerPool {
  const p = new AsrWorkerPool(options);
  cleanups.push(() => p.close());
  return p;
}

function stream(sessionId: string, workers: AsrWorkerPool, stallSeconds?: number): RecognitionStream {
  const s = new RecognitionStream({
    sessionId,
    pool: workers,
    logger,
    ...(stallSeconds ? { stallSeconds } : {}),
    onSegment: () => {},
    onState: () => {},
  });
  cleanups.push(() => s.close());
  return s;
}

function feed(s: RecognitionStream, fromFrame: number, frames: number): void {
  const pcm = new Int16Array(FRAME);
  for (let f = fromFrame; f < fromFrame + frames; f++) s.push(pcm, f * FRAME, performance.now());
}

/** The worker a new conversation would be admitted to now (its slot given back at once). */
function admittedTo(workers: AsrWorkerPool): string | undefined {
  const reservation = workers.reserve(10_000);
  reservation?.release();
  return reservation?.worker.address;
}

/** A logger whose lines (JSON) land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  return pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
}

describe("speech worker health", () => {
  it("a stream's 'ready' does not put a worker that stalled back into rotation; its first ack does", async () => {
    const hung = await recognizer();
    hung.commitEverySamples = Number.POSITIVE_INFINITY; // takes streams ("ready"), never answers their audio
    const workers = pool({ addresses: [hung.address], logger, downForMs: 600_000 });
    const worker = workers.workers[0]!;
    const s = stream("hung-model", workers, 1);
    feed(s, 0, 60); // past the 1 s stall allowance without a commit: the call counts as broken
    // The only worker: the stream resumes there, and the worker says "ready" again.
    await expect.poll(() => hung.streams.length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => s.state, { timeout: 10_000 }).toBe(StreamState.LIVE);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(worker.healthy).toBe(false);
    expect(workers.hasCapacity()).toBe(false); // no new conversation is admitted to it
    // The worker answers audio again: the resumed stream's first ack vouches for it.
    hung.commitEverySamples = 16_000;
    feed(s, 60, 5);
    await expect.poll(() => worker.healthy, { timeout: 10_000 }).toBe(true);
    expect(workers.hasCapacity()).toBe(true);
  });

  it("answers on a stream opened before a worker failed do not put it back", async () => {
    const a = await recognizer();
    const workers = pool({ addresses: [a.address], logger, downForMs: 600_000 });
    const worker = workers.workers[0]!;
    const silent = stream("listening", workers);
    feed(silent, 0, 60);
    await expect.poll(() => a.streams[0]?.requests.length ?? 0, { timeout: 5_000 }).toBeGreaterThan(1);
    await expect.poll(() => silent.unansweredMs, { timeout: 5_000 }).toBe(0); // acknowledged
    // Another conversation's stream on it stalled: the silent one's acks go on (a hung model still commits silence).
    workers.reportFailure(worker, new Error("another stream stalled (test)"), "talking");
    feed(silent, 60, 60);
    const acked = a.streams[0]!.requests.length;
    await expect.poll(() => a.streams[0]!.requests.length, { timeout: 5_000 }).toBeGreaterThan(acked);
    await expect.poll(() => silent.unansweredMs, { timeout: 5_000 }).toBe(0);
    expect(worker.healthy).toBe(false);
  });

  it("places no new conversation on a worker whose engine is stuck, and takes it back once it answers", async () => {
    const stuck = await recognizer();
    const busy = await recognizer();
    busy.othersActive = 5; // the busier one: fewest streams alone would choose the other
    const workers = pool({ addresses: [stuck.address, busy.address], logger });
    await workers.probe(1_000, 0);
    expect(admittedTo(workers)).toBe(stuck.address);
    // Its engine hangs: the Python worker then answers GetWorkerInfo and new streams UNAVAILABLE.
    stuck.unavailable = "worker w: speech engine stuck: a pass has not returned in 11 s (deadline 10 s)";
    const [probe] = await workers.probe(1_000, 0);
    expect(probe).toMatchObject({ ok: false });
    expect(probe!.error).toMatch(/speech engine stuck/);
    expect(admittedTo(workers)).toBe(busy.address);
    expect(workers.pick()).toBe(workers.workers[1]);
    const s = stream("placed", workers);
    feed(s, 0, 60);
    await expect.poll(() => busy.streams.length, { timeout: 5_000 }).toBe(1);
    expect(stuck.streams).toHaveLength(0);
    // It answers again.
    stuck.unavailable = undefined;
    await workers.probe(1_000, 0);
    expect(admittedTo(workers)).toBe(stuck.address);
  });

  it("places no new conversation on a worker that reports more lag than maxLagMs", async () => {
    const laggy = await recognizer();
    const busy = await recognizer();
    busy.othersActive = 5;
    laggy.lagMs = 15_000; // passes queue for 15 s there: a customer would wait that long for a transcript
    const workers = pool({ addresses: [laggy.address, busy.address], logger, maxLagMs: 10_000 });
    await workers.probe(1_000, 0);
    expect(workers.workers[0]!.healthy).toBe(false);
    expect(admittedTo(workers)).toBe(busy.address);
    const s = stream("placed", workers);
    feed(s, 0, 10);
    await expect.poll(() => busy.streams.length, { timeout: 5_000 }).toBe(1);
    expect(laggy.streams).toHaveLength(0);
    // Alone, it admits no one rather than serving transcripts 15 s late.
    const alone = pool({ addresses: [laggy.address], logger, maxLagMs: 10_000 });
    await alone.probe(1_000, 0);
    expect(alone.hasCapacity()).toBe(false);
    // It caught up.
    laggy.lagMs = 400;
    await workers.probe(1_000, 0);
    expect(admittedTo(workers)).toBe(laggy.address);
  });

  it("a worker sits out longer after each incident, and its time resets once a stream there gets an answer", async () => {
    const a = await recognizer();
    const b = await recognizer();
    const lines: Record<string, unknown>[] = [];
    const workers = pool({
      addresses: [a.address, b.address],
      logger: capturingLogger(lines),
      downForMs: 50,
      maxDownForMs: 150,
    });
    const worker = workers.workers[0]!;
    const downFor = () => lines.filter((l) => l.msg === "speech worker marked down").map((l) => l.downForMs);
    workers.reportFailure(worker, new Error("stalled (test)"), "s1");
    workers.reportFailure(worker, new Error("stalled (test)"), "s2"); // while it sits out: the same incident
    for (const session of ["s3", "s4", "s5"]) {
      await expect.poll(() => worker.healthy, { timeout: 5_000 }).toBe(true);
      workers.reportFailure(worker, new Error("stalled (test)"), session);
    }
    // A worker at its limit is busy, not ill: the base time, and no incident counted.
    workers.reportFailure(worker, Object.assign(new Error("full (test)"), { code: 8 }), "s6");
    expect(downFor()).toEqual([50, 50, 100, 150, 150, 50]);
    // A stream opened on it after that gets an answer: it serves, and the next incident starts over.
    await expect.poll(() => worker.healthy, { timeout: 5_000 }).toBe(true);
    const s = stream("answered", workers);
    feed(s, 0, 60);
    await expect.poll(() => a.streams.length, { timeout: 5_000 }).toBe(1);
    await expect.poll(() => s.unansweredMs, { timeout: 5_000 }).toBe(0);
    workers.reportFailure(worker, new Error("stalled (test)"), "s7");
    expect(downFor().at(-1)).toBe(50);
  });
});
