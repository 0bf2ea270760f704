// Admission to speech capacity: slots counted from what workers report,
// this node's streams and its reservations; a reservation becomes the
// conversation's stream when audio flows, and lapses when none does.
import pino from "pino";
import { register } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { AsrWorkerPool } from "../src/AsrWorkerPool.ts";
import { RecognitionStream } from "../src/RecognitionStream.ts";
import { RecordingRecognizer } from "./recording-recognizer.ts";

const logger = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function recognizer(maxStreams: number, othersActive = 0): Promise<RecordingRecognizer> {
  const r = new RecordingRecognizer();
  r.maxStreams = maxStreams;
  r.othersActive = othersActive;
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

async function pool(...workers: RecordingRecognizer[]) {
  const p = new AsrWorkerPool({ addresses: workers.map((w) => w.address), logger });
  cleanups.push(() => p.close());
  await p.probe();
  return p;
}

const stream = (p: AsrWorkerPool, sessionId: string) => {
  const s = new RecognitionStream({ sessionId, pool: p, logger, onSegment: () => {}, onState: () => {} });
  cleanups.push(() => s.close());
  return s;
};

const counter = async (name: string, labels: Record<string, string> = {}) =>
  (await register.getSingleMetric(name)!.get()).values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((sum, v) => sum + v.value, 0);

describe("speech admission", () => {
  it("admits while a worker has room, counting other nodes' streams and its own reservations", async () => {
    const p = await pool(await recognizer(3, 1)); // one slot taken by another node
    const first = p.reserve(60_000);
    const second = p.reserve(60_000);
    expect(first && second).toBeTruthy();
    expect(p.hasCapacity()).toBe(false);
    expect(p.reserve(60_000)).toBeUndefined();
    second!.release();
    second!.release(); // safe twice
    expect(p.workers[0]!.reserved).toBe(1);
    expect(p.hasCapacity()).toBe(true);
  });

  it("turns a reservation into the stream when audio flows, on the reserved worker", async () => {
    const a = await recognizer(1);
    const b = await recognizer(1);
    const p = await pool(a, b);
    const s = stream(p, "admitted");
    const reservation = p.reserve(60_000)!;
    s.hold(reservation);
    expect(a.streams.length + b.streams.length).toBe(0); // silent so far: no recogniser
    s.push(new Int16Array(320), 0, performance.now());
    const reserved = reservation.worker.address === a.address ? a : b;
    await expect.poll(() => reserved.streams.length).toBe(1);
    expect(reservation.held).toBe(false);
    expect(reservation.worker.reserved).toBe(0);
    expect(reservation.worker.activeStreams).toBe(1);
    expect(p.reserve(60_000)?.worker).not.toBe(reservation.worker); // that worker is full now
  });

  it("lets a silent conversation's slot lapse, and releases it when the conversation closes", async () => {
    const p = await pool(await recognizer(1));
    const expiredBefore = await counter("asr_admissions_total", { outcome: "expired" });
    const silent = stream(p, "silent");
    silent.hold(p.reserve(50)!);
    expect(p.hasCapacity()).toBe(false);
    await expect.poll(() => p.hasCapacity()).toBe(true);
    expect(await counter("asr_admissions_total", { outcome: "expired" })).toBe(expiredBefore + 1);
    const closing = stream(p, "closing");
    closing.hold(p.reserve(60_000)!);
    expect(p.hasCapacity()).toBe(false);
    closing.close();
    expect(p.hasCapacity()).toBe(true);
    expect(p.workers[0]!.activeStreams).toBe(0);
  });

  it("admits nothing to a worker that stopped answering, and refuses when no worker answers", async () => {
    const alive = await recognizer(2);
    const dead = await recognizer(8); // the most room, until it dies
    const p = await pool(alive, dead);
    dead.kill();
    await p.probe(500, 0);
    // Its last answer said 8 free slots: no longer true.
    expect(p.reserve(60_000)?.worker.address).toBe(alive.address);
    expect(p.pick()?.address).toBe(alive.address);
    alive.kill();
    await p.probe(500, 0);
    expect(p.hasCapacity()).toBe(false);
    expect(p.reserve(60_000)).toBeUndefined();
  });

  it("asks each worker for its capacity at most once a second, however often it is asked", async () => {
    const r = await recognizer(4);
    const p = await pool(r);
    const started = performance.now();
    const before = await counter("asr_worker_probes_total", { worker: r.address });
    await Promise.all(Array.from({ length: 50 }, () => p.probe()));
    for (let i = 0; i < 200; i++) p.hasCapacity();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const calls = (await counter("asr_worker_probes_total", { worker: r.address })) - before;
    const seconds = (performance.now() - started) / 1000;
    expect(calls).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  });

  it("exports each worker's stream capacity, 0 while it does not answer, and forgets it when closed", async () => {
    const a = await recognizer(6);
    const b = await recognizer(3);
    const p = await pool(a, b);
    const capacity = (worker: string) =>
      register
        .getSingleMetric("asr_worker_capacity_streams")!
        .get()
        .then((m) => m.values.find((v) => v.labels.worker === worker)?.value);
    expect(await capacity(a.address)).toBe(6);
    expect(await capacity(b.address)).toBe(3);
    b.kill();
    await p.probe(500, 0);
    expect(await capacity(b.address)).toBe(0);
    expect(await capacity(a.address)).toBe(6);
    p.close();
    expect(await capacity(a.address)).toBeUndefined();
  });
});
