import * as grpc from "@grpc/grpc-js";
import type { Segment } from "@parley/proto/asr";
import { StreamState } from "@parley/proto/live";
import pino from "pino";
import { register } from "prom-client";
import { afterEach, describe, expect, it } from "vitest";
import { AsrWorkerPool } from "../src/AsrWorkerPool.ts";
import { asrPartialLag } from "../src/metrics.ts";
import { RecognitionStream } from "../src/RecognitionStream.ts";
import { TranscriptAssembler } from "../src/TranscriptAssembler.ts";
import { UNANSWERED_LAG_MS, VoiceConversation } from "../src/VoiceConversation.ts";
import { RecordingRecognizer } from "./recording-recognizer.ts";
import { StalledRecognizer } from "./stalled-recognizer.ts";

const logger = pino({ level: "silent" });
const FRAME = 320; // 20 ms at 16 kHz
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  // Last set up, first torn down: a stream closes before its worker stops.
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function recognizer(): Promise<RecordingRecognizer> {
  const r = new RecordingRecognizer();
  await r.start();
  cleanups.push(() => r.stop());
  return r;
}

/** Feeds `frames` 20 ms frames whose samples encode their own absolute index. */
function feed(stream: RecognitionStream, fromFrame: number, frames: number): void {
  const pcm = new Int16Array(FRAME);
  for (let f = fromFrame; f < fromFrame + frames; f++) {
    for (let i = 0; i < FRAME; i++) pcm[i] = (f * FRAME + i) & 0x7fff;
    stream.push(pcm, f * FRAME, performance.now());
  }
}

/** Checks that runs are contiguous from `start`; returns where they end. */
function contiguousEnd(runs: [number, number][], start: number): number {
  let at = start;
  for (const [offset, n] of runs) {
    expect(offset).toBe(at);
    at += n;
  }
  return at;
}

/** Audio a recorded stream received, as [offset, samples] runs, with contents checked. */
function received(requests: { kind: { case: string | undefined; value?: unknown } }[]) {
  const runs: [number, number][] = [];
  for (const r of requests) {
    if (r.kind.case !== "audio") continue;
    const { offsetSamples, pcm } = r.kind.value as { offsetSamples: number; pcm: Uint8Array };
    const samples = new Int16Array(Uint8Array.from(pcm).buffer);
    for (let i = 0; i < samples.length; i++) expect(samples[i]).toBe((offsetSamples + i) & 0x7fff);
    runs.push([offsetSamples, samples.length]);
  }
  return runs;
}

const flush = () => new Promise((r) => setTimeout(r, 100));

/** The worker the stream opened on (it opens with the first audio), and the other one. */
async function used(
  a: RecordingRecognizer,
  b: RecordingRecognizer,
): Promise<[RecordingRecognizer, RecordingRecognizer]> {
  await expect.poll(() => a.streams.length + b.streams.length, { timeout: 5_000 }).toBe(1);
  return a.streams.length ? [a, b] : [b, a];
}

/** A logger whose lines (JSON) land in `lines`. */
function capturingLogger(lines: Record<string, unknown>[]) {
  return pino({ level: "debug" }, { write: (line: string) => lines.push(JSON.parse(line)) });
}

/** A stream with a 2 s ring to a worker that accepts it and then reads nothing. */
async function toStalledWorker(sessionId: string) {
  const worker = new StalledRecognizer();
  await worker.start();
  cleanups.push(() => worker.stop());
  const pool = new AsrWorkerPool({ addresses: [worker.address], logger });
  cleanups.push(() => pool.close());
  const stream = new RecognitionStream({
    sessionId,
    pool,
    logger,
    replaySeconds: 2,
    retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 60_000 },
    onSegment: () => {},
    onState: () => {},
  });
  cleanups.push(() => stream.close());
  return { worker, pool, stream };
}

describe("RecognitionStream", () => {
  it("streams contiguous audio after a config, and publishes segments and states", async () => {
    const r = await recognizer();
    const pool = new AsrWorkerPool({ addresses: [r.address], logger });
    cleanups.push(() => pool.close());
    const segments: Segment[] = [];
    const states: StreamState[] = [];
    const stream = new RecognitionStream({
      sessionId: "s1",
      pool,
      logger,
      onSegment: (s) => segments.push(s),
      onState: (s) => states.push(s),
    });
    expect(r.streams).toHaveLength(0); // no audio yet: no recogniser stream
    for (let part = 0; part < 3; part++) {
      feed(stream, part * 50, 50); // 3 s in all
      await flush();
    }
    // Ended twice at once (the director and the session both end it): one end reaches the worker.
    await Promise.all([stream.end(), stream.end()]);
    const requests = r.streams[0]!.requests;
    expect(requests[0]!.kind.case).toBe("config");
    expect(requests.at(-1)!.kind.case).toBe("end");
    expect(requests.filter((q) => q.kind.case === "end")).toHaveLength(1);
    const runs = received(requests);
    expect(contiguousEnd(runs, 0)).toBe(150 * FRAME);
    expect(segments.map((s) => s.segmentId)).toEqual([0, 1, 2]);
    expect(states).toEqual([StreamState.CONNECTING, StreamState.LIVE, StreamState.ENDED]);
  });

  it("resumes on another worker from the committed offset: nothing skipped, nothing transcribed twice", async () => {
    const a = await recognizer();
    const b = await recognizer();
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const segments: Segment[] = [];
    const states: StreamState[] = [];
    const stream = new RecognitionStream({
      sessionId: "s2",
      pool,
      logger,
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: (s) => segments.push(s),
      onState: (s) => states.push(s),
    });
    feed(stream, 0, 80); // 1.6 s: one commit at 1 s, 0.6 s uncommitted
    const [first, second] = await used(a, b);
    await expect.poll(() => first.streams[0]!.requests.length).toBe(1 + 80);
    first.kill();
    feed(stream, 80, 20); // audio keeps coming while the stream is down
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    feed(stream, 100, 50);
    await stream.end();

    const before = received(first.streams[0]!.requests);
    const after = second.streams[0]!.requests;
    const config = after[0]!.kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.startOffsetSamples).toBe(16_000); // the committed offset
    expect(config.value.firstSegmentId).toBe(1); // segment 0 is final already
    const resumed = received(after);
    expect(resumed[0]![0]).toBe(16_000);
    // The new worker saw exactly the uncommitted audio plus everything later, contiguously.
    const end = contiguousEnd(resumed, 16_000);
    expect(end).toBe(150 * FRAME);
    expect(before.at(-1)![0]).toBeGreaterThanOrEqual(16_000);
    expect(states).toContain(StreamState.RECONNECTING);
    // Segment ids never repeat across workers.
    const ids = segments.filter((s) => s.isFinal).map((s) => s.segmentId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  });

  it("does not trust a worker that acknowledges audio it was never sent: the next worker gets it", async () => {
    const a = await recognizer();
    const b = await recognizer();
    a.overAckSamples = b.overAckSamples = 8_000; // half a second more than it heard
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const lines: Record<string, unknown>[] = [];
    const stream = new RecognitionStream({
      sessionId: "over-ack",
      pool,
      logger: capturingLogger(lines),
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    feed(stream, 0, 60); // 1.2 s: a commit at 1 s, acknowledged as 1.5 s
    const [first, second] = await used(a, b);
    await expect.poll(() => first.streams[0]!.requests.length).toBe(1 + 60);
    first.kill();
    feed(stream, 60, 40);
    await expect.poll(() => second.streams[0]?.requests.length ?? 0, { timeout: 5_000 }).toBeGreaterThan(0);
    const config = second.streams[0]!.requests[0]!.kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    // The resume starts where the first worker could have committed (all it was sent), not past it.
    expect(config.value.startOffsetSamples).toBe(60 * FRAME);
    // Everything from there on reached it, contiguously (what waited in the ring goes in runs).
    await expect
      .poll(() => received(second.streams[0]!.requests).reduce((end, [offset, n]) => Math.max(end, offset + n), 0))
      .toBe(100 * FRAME);
    expect(contiguousEnd(received(second.streams[0]!.requests), 60 * FRAME)).toBe(100 * FRAME);
    expect(lines.some((l) => l.msg === "speech worker acknowledged audio it was not sent")).toBe(true);
  });

  it("counts the replay ring's window for a resume from the first audio, not from the stream's creation", async () => {
    // Nothing answers: each attempt fails at once.
    const pool = new AsrWorkerPool({ addresses: ["127.0.0.1:1"], logger, downForMs: 10 });
    cleanups.push(() => pool.close());
    const states: StreamState[] = [];
    const stream = new RecognitionStream({
      sessionId: "late-start",
      pool,
      logger,
      replaySeconds: 1,
      retry: { maxRetry: 5, retryIntervalMs: 20, timeoutMs: 500 },
      onSegment: () => {},
      onState: (s) => states.push(s),
    });
    cleanups.push(() => stream.close());
    // The customer takes longer than the ring's second to start talking.
    await new Promise((r) => setTimeout(r, 1_200));
    feed(stream, 0, 10);
    await expect.poll(() => stream.state, { timeout: 20_000 }).toBe(StreamState.FAILED);
    // It tried again before giving up, as a stream that started at once would.
    expect(states).toContain(StreamState.RECONNECTING);
  });

  it("has the next worker re-finalise, under the same id, a final whose ack never came", async () => {
    const a = await recognizer();
    const b = await recognizer();
    a.withholdAcks = b.withholdAcks = true; // the first worker dies between a final and its ack
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const transcript = new TranscriptAssembler("s3");
    const stream = new RecognitionStream({
      sessionId: "s3",
      pool,
      logger,
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: (s) => transcript.apply(s),
      onState: () => {},
    });
    feed(stream, 0, 80); // 1.6 s: a final for the first second, never acknowledged
    const [first, second] = await used(a, b);
    await expect.poll(() => transcript.finalText(), { timeout: 10_000 }).toBe("audio 0-1000 ms");
    second.withholdAcks = false; // (it has no stream yet: it only gets one once the first dies)
    first.kill();
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    feed(stream, 80, 70);
    await stream.end();

    const config = second.streams[0]!.requests[0]!.kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.startOffsetSamples).toBe(0); // nothing was committed
    expect(config.value.firstSegmentId).toBe(0); // the unacknowledged final is redone, not added to
    expect(contiguousEnd(received(second.streams[0]!.requests), 0)).toBe(150 * FRAME);
    // The transcript covers the 3 s once, in order: the new worker's final for the first
    // second replaced the unacknowledged one instead of repeating its audio under a new id.
    const heard = transcript
      .finalText()
      .match(/\d+-\d+/g)!
      .map((range) => range.split("-").map(Number));
    expect(heard[0]![0]).toBe(0);
    expect(heard.at(-1)![1]).toBe(3_000);
    for (let i = 1; i < heard.length; i++) expect(heard[i]![0]).toBe(heard[i - 1]![1]);
  });

  it("redoes an unacknowledged final under its id even after a second worker acknowledged other audio", async () => {
    const workers = [await recognizer(), await recognizer(), await recognizer()];
    for (const w of workers) w.withholdAcks = true; // the first dies between a final and its ack
    const pool = new AsrWorkerPool({ addresses: workers.map((w) => w.address), logger });
    cleanups.push(() => pool.close());
    const transcript = new TranscriptAssembler("s9");
    const stream = new RecognitionStream({
      sessionId: "s9",
      pool,
      logger,
      retry: { maxRetry: 5, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: (s) => transcript.apply(s),
      onState: () => {},
    });
    const serving = () => workers.find((w) => w.streams.some((s) => !s.call.cancelled && !s.ended));
    feed(stream, 0, 80); // 1.6 s: a final for the first second, never acknowledged
    await expect.poll(() => transcript.finalText(), { timeout: 10_000 }).toBe("audio 0-1000 ms");
    const first = serving()!;
    // The next worker only commits the noise before the words (acks, no final), then breaks too.
    for (const w of workers)
      if (w !== first) Object.assign(w, { withholdAcks: false, acksWithoutFinals: true, commitEverySamples: Infinity });
    first.kill();
    await expect.poll(() => workers.filter((w) => w !== first && w.streams.length > 0)).toHaveLength(1);
    const second = workers.find((w) => w !== first && w.streams.length > 0)!;
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    feed(stream, 80, 10);
    await expect.poll(() => second.streams.at(-1)!.requests.length).toBeGreaterThan(1);
    await flush();
    const third = workers.find((w) => w !== first && w !== second)!;
    Object.assign(third, { acksWithoutFinals: false, commitEverySamples: 16_000 });
    second.kill();
    await expect.poll(() => third.streams.length, { timeout: 5_000 }).toBe(1);
    feed(stream, 90, 60);
    await stream.end();

    const config = third.streams[0]!.requests[0]!.kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.firstSegmentId).toBe(0); // the first second's final is redone, not added to
    // The audio is heard once, in order: the third worker's final replaced the unacknowledged one.
    const heard = transcript
      .finalText()
      .match(/\d+-\d+/g)!
      .map((range) => range.split("-").map(Number));
    expect(heard[0]![0]).toBe(0);
    expect(heard.at(-1)![1]).toBeGreaterThan(2_000); // (the double finalises whole seconds only)
    for (let i = 1; i < heard.length; i++) expect(heard[i]![0]).toBe(heard[i - 1]![1]);
  });

  it("batches frames into larger messages when asked, still contiguous and complete after a resume", async () => {
    const a = await recognizer();
    const b = await recognizer();
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "s4",
      pool,
      logger,
      sendChunkMs: 100,
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: () => {},
      onState: () => {},
    });
    feed(stream, 0, 62); // 1.24 s: 12 messages of 100 ms, 40 ms left unsent
    const [first, second] = await used(a, b);
    await expect.poll(() => first.streams[0]!.requests.length).toBe(1 + 12);
    const sent = received(first.streams[0]!.requests);
    expect(sent.every(([, n]) => n === 1_600)).toBe(true);
    expect(contiguousEnd(sent, 0)).toBe(12 * 1_600);
    first.kill();
    feed(stream, 62, 38);
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    await stream.end(); // flushes what is left
    const resumed = received(second.streams[0]!.requests);
    expect(resumed[0]![0]).toBe(16_000); // from the committed offset
    expect(contiguousEnd(resumed, 16_000)).toBe(100 * FRAME);
  });

  it("ending while reconnecting waits for the new worker to finish the uncommitted audio", async () => {
    const a = await recognizer();
    const b = await recognizer();
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "s5",
      pool,
      logger,
      retry: { maxRetry: 3, retryIntervalMs: 200, timeoutMs: 2_000 },
      onSegment: () => {},
      onState: () => {},
    });
    feed(stream, 0, 70); // 1.4 s: committed up to 1 s
    const [first, second] = await used(a, b);
    await expect.poll(() => first.streams[0]!.requests.length).toBe(1 + 70);
    first.kill();
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.RECONNECTING);
    await stream.end(); // during the backoff
    const requests = second.streams[0]!.requests;
    expect(requests[0]!.kind.case).toBe("config");
    expect(contiguousEnd(received(requests), 16_000)).toBe(70 * FRAME);
    expect(requests.at(-1)!.kind.case).toBe("end");
  });

  it("reports audio it had to drop when no worker commits it in time", async () => {
    const r = await recognizer();
    r.commitEverySamples = Number.POSITIVE_INFINITY; // a worker that never commits
    const pool = new AsrWorkerPool({ addresses: [r.address], logger });
    cleanups.push(() => pool.close());
    const dropped = async () =>
      (await register.getSingleMetric("voice_processing_errors_total")!.get()).values.find(
        (v) => v.labels.reason === "replay_overflow",
      )?.value ?? 0;
    const before = await dropped();
    const stream = new RecognitionStream({
      sessionId: "s6",
      pool,
      logger,
      replaySeconds: 1,
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    const queue = async () =>
      (await register.getSingleMetric("voice_processing_queue_size")!.get()).values[0]?.value ?? 0;
    const queuedBefore = await queue();
    feed(stream, 0, 60); // 1.2 s into a 1 s ring
    expect(await dropped()).toBeGreaterThan(before);
    // The chunks the full ring dropped left the queue gauge too: it counts what is held.
    expect((await queue()) - queuedBefore).toBe(50);
    stream.close();
    expect(await queue()).toBe(queuedBefore);
  });

  it("stops writing to a worker that does not read: bounded buffers, counted drops, a restart after the gap", async () => {
    const dropped = async () =>
      (await register.getSingleMetric("asr_audio_dropped_samples_total")!.get()).values[0]?.value ?? 0;
    const before = await dropped();
    const { worker, stream } = await toStalledWorker("s7");
    let most = 0;
    // 20 s of audio, a second at a time, to a worker that reads none: slow, not yet taken for
    // hung (that takes 30 s of audio without a commit, see "abandons a worker ..." below).
    for (let second = 0; second < 20; second++) {
      feed(stream, second * 50, 50);
      most = Math.max(most, stream.bufferedWrites);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // What the call holds stays bounded; the 2 s ring dropped the rest, counted.
    expect(most).toBeGreaterThan(50); // the worker really stopped reading
    expect(most).toBeLessThanOrEqual(101);
    expect((await dropped()) - before).toBeGreaterThan(10 * 16_000);
    expect(worker.streams).toHaveLength(1);
    // Once the worker reads again, the stream restarts after the gap.
    worker.streams[0]!.resume();
    await expect.poll(() => worker.streams.length, { timeout: 5_000 }).toBe(2);
    const config = (await worker.firstRequest(worker.streams[1]!)).kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.startOffsetSamples).toBeGreaterThan(10 * 16_000);
  });

  it("ends on a new stream after the gap when the ring dropped audio the slow worker never got", async () => {
    const { worker, pool, stream } = await toStalledWorker("s8");
    for (let second = 0; second < 10; second++) {
      feed(stream, second * 50, 50); // 10 s to a worker that reads none: the 2 s ring drops the rest
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(worker.streams).toHaveLength(1);
    const ended = stream.end(2_000);
    // The first call cannot get the audio before the gap (a worker refuses a gap): the end goes on
    // a new stream that starts after it, and the slow but healthy worker is not marked down.
    await expect.poll(() => worker.streams.length, { timeout: 5_000 }).toBe(2);
    const config = (await worker.firstRequest(worker.streams[1]!)).kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.startOffsetSamples).toBeGreaterThan(5 * 16_000);
    expect(pool.workers[0]!.healthy).toBe(true);
    await ended;
  });

  it("waits out a speech worker that is gone for several seconds (the default policy), and loses no audio", async () => {
    const first = await recognizer();
    const port = first.port;
    const pool = new AsrWorkerPool({ addresses: [first.address], logger, downForMs: 10 });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "restart",
      pool,
      logger,
      onSegment: () => {},
      onState: () => {},
    });
    feed(stream, 0, 10);
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    first.kill();
    feed(stream, 10, 20);
    await new Promise((resolve) => setTimeout(resolve, 8_000)); // a restart longer than 5 retries used to last
    expect(stream.state).toBe(StreamState.RECONNECTING);
    const again = new RecordingRecognizer();
    await again.start(port);
    cleanups.push(() => again.stop());
    await expect.poll(() => stream.state, { timeout: 10_000 }).toBe(StreamState.LIVE);
    feed(stream, 30, 10);
    await stream.end();
    // The restarted worker got every frame not yet committed, through the last one.
    expect(contiguousEnd(received(again.streams[0]!.requests), received(again.streams[0]!.requests)[0]![0])).toBe(
      40 * FRAME,
    );
  }, 30_000);

  it("gives up once its replay ring may have dropped audio since the break, and counts the outage once", async () => {
    const pool = new AsrWorkerPool({ addresses: ["127.0.0.1:1"], logger, downForMs: 10 });
    cleanups.push(() => pool.close());
    const errors = async () =>
      (await register.getSingleMetric("voice_processing_errors_total")!.get()).values
        .filter((v) => v.labels.stage === "asr")
        .reduce((sum, v) => sum + v.value, 0);
    const before = await errors();
    const states: StreamState[] = [];
    const stream = new RecognitionStream({
      sessionId: "window",
      pool,
      logger,
      replaySeconds: 1,
      // Far more attempts than fit in the ring's second.
      retry: { maxRetry: 1_000, retryIntervalMs: 50, timeoutMs: 500 },
      onSegment: () => {},
      onState: (s) => states.push(s),
    });
    cleanups.push(() => stream.close());
    feed(stream, 0, 10);
    await expect.poll(() => stream.state, { timeout: 20_000 }).toBe(StreamState.FAILED);
    expect(states.filter((s) => s === StreamState.RECONNECTING).length).toBeLessThan(50);
    // The outage and the giving up: not one error per attempt.
    expect((await errors()) - before).toBe(2);
  });

  it("fails at once, without retrying or marking the worker down, when the worker refuses the stream (INVALID_ARGUMENT)", async () => {
    const worker = await recognizer();
    worker.refuseWith = grpc.status.INVALID_ARGUMENT;
    const pool = new AsrWorkerPool({ addresses: [worker.address], logger });
    cleanups.push(() => pool.close());
    const lines: Record<string, unknown>[] = [];
    const states: [StreamState, string][] = [];
    const stream = new RecognitionStream({
      sessionId: "refused",
      pool,
      // The session's logger, as a node gives it: its lines carry the sessionId.
      logger: capturingLogger(lines).child({ sessionId: "refused" }),
      language: "sv-SE",
      retry: { maxRetry: 16, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: () => {},
      onState: (s, d) => states.push([s, d]),
    });
    cleanups.push(() => stream.close());
    feed(stream, 0, 5);
    await expect.poll(() => stream.state, { timeout: 10_000 }).toBe(StreamState.FAILED);
    feed(stream, 5, 50); // the customer goes on talking: nothing is sent again
    await flush();
    expect(worker.streams).toHaveLength(1); // not tried again: it would refuse the same config again
    expect(states.map(([s]) => s)).not.toContain(StreamState.RECONNECTING); // no "reconnecting…" notice
    expect(states.at(-1)![1]).toBe("speech recognition cannot serve this conversation");
    const failed = lines.find((l) => l.msg === "speech recognition failed");
    expect(failed).toMatchObject({ sessionId: "refused", language: "sv-SE", level: 50 });
    expect(String(failed!.cause)).toMatch(/refused the stream's config/);
    expect(lines.filter((l) => l.msg === "speech stream broke; resuming")).toHaveLength(0);
    expect(pool.workers[0]!.healthy).toBe(true); // nor taken for down: other streams still get it
    expect(pool.workers[0]!.activeStreams).toBe(0);
  });

  it("still retries a worker that is unavailable (UNAVAILABLE), and resumes when it answers", async () => {
    const worker = await recognizer();
    worker.refuseWith = grpc.status.UNAVAILABLE;
    const pool = new AsrWorkerPool({ addresses: [worker.address], logger, downForMs: 10 });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "unavailable",
      pool,
      logger,
      retry: { maxRetry: 16, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    feed(stream, 0, 5);
    await expect.poll(() => worker.streams.length, { timeout: 10_000 }).toBeGreaterThan(1);
    worker.refuseWith = undefined;
    await expect.poll(() => stream.state, { timeout: 10_000 }).toBe(StreamState.LIVE);
  });

  it("fails cleanly when no worker can be reached", async () => {
    const pool = new AsrWorkerPool({ addresses: ["127.0.0.1:1"], logger, downForMs: 10 });
    cleanups.push(() => pool.close());
    const states: [StreamState, string][] = [];
    const stream = new RecognitionStream({
      sessionId: "s3",
      pool,
      logger,
      retry: { maxRetry: 2, retryIntervalMs: 10, timeoutMs: 500 },
      onSegment: () => {},
      onState: (s, d) => states.push([s, d]),
    });
    feed(stream, 0, 10);
    await expect.poll(() => stream.state, { timeout: 10_000 }).toBe(StreamState.FAILED);
    expect(states.at(-1)![1]).toBe("speech recognition unavailable");
    // What customers and walls see names no internal address or transport error.
    expect(states.map(([, detail]) => detail).join(" ")).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|connect/i);
    expect(pool.workers[0]!.activeStreams).toBe(0);
    stream.close();
  });

  it("measures partial lag from the capture of the audio at the partial's end, not the newest audio", async () => {
    const r = await recognizer();
    // Every partial covers audio only up to 500 ms, however much came since.
    r.partialEndMs = (received) => (received >= 2 * 16_000 ? 500 : undefined);
    r.commitEverySamples = 1e9;
    const pool = new AsrWorkerPool({ addresses: [r.address], logger });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({ sessionId: "lag", pool, logger, onSegment: () => {}, onState: () => {} });
    cleanups.push(() => stream.close());
    const lag = async () => {
      const values = (await asrPartialLag.get()).values;
      const of = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
      return { count: of("asr_partial_lag_seconds_count"), sum: of("asr_partial_lag_seconds_sum") };
    };
    const before = await lag();
    // The first second is captured, then 1.5 s later the next one.
    const pcm = new Int16Array(FRAME);
    const capturedFirst = performance.now();
    for (let f = 0; f < 50; f++) stream.push(pcm, f * FRAME, capturedFirst);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    for (let f = 50; f < 100; f++) stream.push(pcm, f * FRAME, performance.now());
    await expect.poll(async () => (await lag()).count - before.count, { timeout: 5_000 }).toBe(1);
    const after = await lag();
    // Audio at 500 ms was captured 1.5 s before the partial came (the newest audio would say ~0).
    expect(after.sum - before.sum).toBeGreaterThanOrEqual(1.5);
  });
  it("shows audio a stalled worker leaves unanswered as lag, however old its last result's lag is", async () => {
    const { pool, stream } = await toStalledWorker("unanswered");
    const pcm = new Int16Array(FRAME);
    // Audio captured 20 s ago that no worker has answered (the worker was SIGSTOPped since).
    stream.push(pcm, 0, performance.now() - 20_000);
    stream.push(pcm, FRAME, performance.now());
    expect(stream.unansweredMs).toBeGreaterThanOrEqual(20_000);

    // The admin monitor's per-session lag: the same, once longer than a worker takes to answer silence.
    const conversation = (sessionId: string) => {
      const voice = new VoiceConversation({ sessionId, pool, logger, publish: () => {} });
      cleanups.push(() => voice.close());
      return voice;
    };
    const stalled = conversation("unanswered-voice");
    stalled.pushPcm(pcm, 0, performance.now() - 20_000);
    expect(stalled.recognitionLagMs).toBeGreaterThanOrEqual(20_000);
    // Audio a moment old with no answer yet is silence to a worker, not lag.
    const quiet = conversation("quiet-voice");
    quiet.pushPcm(pcm, 0, performance.now() - UNANSWERED_LAG_MS / 4);
    expect(quiet.recognitionLagMs).toBe(0);
  });

  it("forgets unanswered audio once the worker answers it", async () => {
    const r = await recognizer();
    r.commitEverySamples = FRAME; // a final and its ack for every frame
    const pool = new AsrWorkerPool({ addresses: [r.address], logger });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "answered",
      pool,
      logger,
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    stream.push(new Int16Array(FRAME), 0, performance.now() - 20_000);
    expect(stream.unansweredMs).toBeGreaterThanOrEqual(20_000);
    await expect.poll(() => stream.unansweredMs, { timeout: 5_000 }).toBe(0);
  });

  it("abandons a worker that stops reading once stallSeconds of audio pass without a commit", async () => {
    const stalled = new StalledRecognizer(); // its connection stays up: only the call hangs
    await stalled.start();
    cleanups.push(() => stalled.stop());
    const good = await recognizer();
    const poolLines: Record<string, unknown>[] = [];
    const pool = new AsrWorkerPool({
      addresses: [stalled.address, good.address],
      logger: capturingLogger(poolLines),
      downForMs: 600_000,
    });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "hung-reader",
      pool,
      logger,
      stallSeconds: 5,
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 60_000 },
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    let most = 0;
    for (let second = 0; second < 4; second++) {
      feed(stream, second * 50, 50); // 4 s: under the allowance
      most = Math.max(most, stream.bufferedWrites);
      await flush();
    }
    expect(most).toBeGreaterThan(50); // backpressured: 'drain' never comes
    expect(stalled.streams).toHaveLength(1);
    expect(good.streams).toHaveLength(0);
    feed(stream, 200, 100); // past 5 s without a commit: the call counts as broken
    await expect.poll(() => stream.state, { timeout: 10_000 }).toBe(StreamState.LIVE);
    feed(stream, 300, 50);
    await stream.end();
    const requests = good.streams[0]!.requests;
    const config = requests[0]!.kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.startOffsetSamples).toBe(0); // nothing was committed: all of it is redone
    expect(contiguousEnd(received(requests), 0)).toBe(350 * FRAME);
    expect(pool.workers[0]!.healthy).toBe(false);
    // The pool's line names the conversation that found the worker down.
    expect(poolLines.find((l) => l.msg === "speech worker marked down")).toMatchObject({
      sessionId: "hung-reader",
      worker: stalled.address,
    });
  });

  it("abandons a worker that reads but never commits, resuming from the committed offset", async () => {
    const a = await recognizer();
    const b = await recognizer();
    a.commitEverySamples = b.commitEverySamples = Number.POSITIVE_INFINITY; // a decoder that hangs
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const stream = new RecognitionStream({
      sessionId: "hung-decoder",
      pool,
      logger,
      stallSeconds: 1,
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 2_000 },
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    feed(stream, 0, 40); // 0.8 s: under the allowance
    const [first, second] = await used(a, b);
    second.commitEverySamples = 16_000; // (it has no stream yet: it only gets one once the first is abandoned)
    await expect.poll(() => first.streams[0]!.requests.length, { timeout: 5_000 }).toBe(1 + 40);
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    expect(second.streams).toHaveLength(0);
    feed(stream, 40, 20); // reaches 1 s of audio since the call opened, without a commit
    await expect.poll(() => second.streams.length, { timeout: 5_000 }).toBe(1);
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    feed(stream, 60, 40); // (fed at once, faster than real time: kept under the new call's allowance)
    await stream.end();
    const requests = second.streams[0]!.requests;
    const config = requests[0]!.kind;
    if (config.case !== "config") throw new Error("first request must be the config");
    expect(config.value.startOffsetSamples).toBe(0);
    expect(contiguousEnd(received(requests), 0)).toBe(100 * FRAME);
    expect(first.streams).toHaveLength(1);
  });

  it("counts a full ring's drops as one error and logs them summed, not once per frame", async () => {
    const r = await recognizer();
    r.commitEverySamples = Number.POSITIVE_INFINITY; // a worker that never commits
    const pool = new AsrWorkerPool({ addresses: [r.address], logger });
    cleanups.push(() => pool.close());
    const overflowErrors = async () =>
      (await register.getSingleMetric("voice_processing_errors_total")!.get()).values.find(
        (v) => v.labels.reason === "replay_overflow",
      )?.value ?? 0;
    const errorsBefore = await overflowErrors();
    const lines: Record<string, unknown>[] = [];
    const stream = new RecognitionStream({
      sessionId: "overflow",
      pool,
      logger: capturingLogger(lines),
      replaySeconds: 1,
      stallSeconds: 600, // only the ring is at work here
      onSegment: () => {},
      onState: () => {},
    });
    cleanups.push(() => stream.close());
    feed(stream, 0, 250); // 5 s into a 1 s ring: 200 frames dropped, one per push
    const dropLines = () => lines.filter((l) => l.msg === "uncommitted audio dropped: replay buffer full");
    expect(dropLines().length).toBeLessThanOrEqual(2); // the first at once, then at most one per interval
    expect((await overflowErrors()) - errorsBefore).toBe(1);
    stream.close(); // what the interval held back gets its line
    expect(dropLines().reduce((sum, l) => sum + (l.droppedSamples as number), 0)).toBe(4 * 16_000);
  });

  it("takes the open partial as final, under its id, when the worker does not finish the end in time", async () => {
    const r = await recognizer();
    r.ignoreEnd = true; // its decoder hangs at the end: no last final, the call stays open
    r.partialEndMs = (receivedSamples) => receivedSamples / 16;
    const pool = new AsrWorkerPool({ addresses: [r.address], logger });
    cleanups.push(() => pool.close());
    const transcript = new TranscriptAssembler("unfinished");
    const finals: Segment[] = [];
    const stream = new RecognitionStream({
      sessionId: "unfinished",
      pool,
      logger,
      onSegment: (s) => {
        if (s.isFinal) finals.push(s);
        transcript.apply(s);
      },
      onState: () => {},
    });
    feed(stream, 0, 60); // 1.2 s: a final for the first second, then a partial of the next segment
    await expect.poll(() => transcript.text(), { timeout: 5_000 }).toBe("audio 0-1000 ms partial 1");
    expect(transcript.finalText()).toBe("audio 0-1000 ms");
    await stream.end(300);
    // The last answer reaches the score and the record: the partial is final now, once.
    expect(transcript.finalText()).toBe("audio 0-1000 ms partial 1");
    expect(finals.map((s) => s.segmentId)).toEqual([0, 1]);
    expect(stream.state).toBe(StreamState.ENDED);
  });

  /**
   * The first worker heard 1.2 s, then died during the end; the second, redoing that audio, has
   * decoded 100 ms of it when the end times out. Returns the final text and the finals' ids.
   */
  async function endTimingOutDuringFailover(firstWorker: (r: RecordingRecognizer) => void) {
    const a = await recognizer();
    const b = await recognizer();
    for (const r of [a, b]) {
      r.commitEverySamples = 16_000;
      r.ignoreEnd = true;
      r.partialText = (id, startMs, endMs) => `heard ${id}: ${startMs}-${endMs} ms`;
    }
    a.partialEndMs = (receivedSamples) => receivedSamples / 16;
    b.partialEndMs = () => 100; // still decoding the replay
    b.commitEverySamples = 1_000_000;
    firstWorker(a);
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger });
    cleanups.push(() => pool.close());
    const transcript = new TranscriptAssembler("failover-end");
    const finals: Segment[] = [];
    const fromSecond: Segment[] = [];
    const stream = new RecognitionStream({
      sessionId: "failover-end",
      pool,
      logger,
      retry: { maxRetry: 3, retryIntervalMs: 10, timeoutMs: 5_000 },
      onSegment: (s) => {
        if (s.isFinal) finals.push(s);
        if (!s.isFinal && s.endMs === 100) fromSecond.push(s);
        transcript.apply(s);
      },
      onState: () => {},
    });
    feed(stream, 0, 60);
    await expect.poll(() => transcript.text(), { timeout: 5_000 }).toContain("1200 ms");
    const ended = stream.end(4_000);
    a.kill();
    await expect.poll(() => fromSecond.length, { timeout: 3_500 }).toBeGreaterThan(0); // the second worker is redoing it
    await ended;
    return { finalText: transcript.finalText(), finalIds: finals.map((s) => s.segmentId) };
  }

  it("keeps the fuller partial of a worker that died during the end over the next worker's shorter one", async () => {
    const { finalText } = await endTimingOutDuringFailover((a) => {
      a.commitEverySamples = 1_000_000; // no final: one partial of the whole answer
    });
    expect(finalText).toBe("heard 0: 0-1200 ms");
  });

  it("keeps an unacknowledged final and the partial after it over a shorter redo when the end times out", async () => {
    const { finalText, finalIds } = await endTimingOutDuringFailover((a) => {
      a.withholdAcks = true; // it finalised the first second, then died before acknowledging it
    });
    expect(finalText).toBe("audio 0-1000 ms heard 1: 1000-1200 ms");
    expect(finalIds).toEqual([0, 0, 1]); // the final, then once more with the partial after it
  });
});

describe("AsrWorkerPool", () => {
  it("keeps a worker whose stream broke out of picks while it still answers probes, then takes it back", async () => {
    const a = await recognizer();
    const b = await recognizer();
    const pool = new AsrWorkerPool({ addresses: [a.address, b.address], logger, downForMs: 1_500 });
    cleanups.push(() => pool.close());
    const [first, second] = pool.workers;
    expect(pool.pick()).toBe(first);
    // A stream on the first broke (its decoder hung, say): it still answers GetWorkerInfo.
    pool.reportFailure(first!, new Error("stream broke (test)"), "s1");
    const probes = await pool.probe(1_000, 0);
    expect(probes.map((p) => p.ok)).toEqual([true, true]);
    expect(first!.healthy).toBe(false);
    expect(pool.pick()).toBe(second);
    // Its time out, it is picked again.
    await expect.poll(() => pool.pick(), { timeout: 5_000 }).toBe(first);
  });
});
