// Conversations go only to speech workers that recognise their store's
// language (WorkerInfo.languages), matched as the worker itself matches
// (parley_asr/session.py pick_language: by primary language); capacity is
// counted per language. Real gRPC test doubles in-process.
import { StreamState } from "@parley/proto/live";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AsrWorkerPool } from "../src/AsrWorkerPool.ts";
import { RecognitionStream } from "../src/RecognitionStream.ts";
import { RecordingRecognizer } from "./recording-recognizer.ts";

const logger = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function recognizer(languages: string[], maxStreams = 100): Promise<RecordingRecognizer> {
  const r = new RecordingRecognizer();
  r.languages = languages;
  r.maxStreams = maxStreams;
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

describe("AsrWorkerPool by language", () => {
  it("picks a worker that speaks the conversation's language in a mixed pool", async () => {
    const english = await recognizer(["en-US"]); // the embedded pocketsphinx worker
    const many = await recognizer(["en", "sv", "de"]); // a multilingual (Whisper) worker
    const p = await pool(english, many);
    const [en, multi] = p.workers;
    expect(p.pick(undefined, undefined, "sv-SE")).toBe(multi);
    expect(p.pick(undefined, undefined, "SV")).toBe(multi); // case aside
    expect(p.pick(undefined, undefined, "de-AT")).toBe(multi); // the primary language is what counts
    expect(p.pick(en, undefined, "sv-SE")).toBe(multi);
    // Even when asked to prefer the English worker, or when the multilingual one is busier.
    expect(p.pick(undefined, en, "sv-SE")).toBe(multi);
    multi!.activeStreams = 5;
    expect(p.pick(undefined, undefined, "sv-SE")).toBe(multi);
    expect(p.pick(undefined, undefined, "en-GB")).toBe(en); // both speak it: the less busy one
    multi!.activeStreams = 0;
    // Even while it is marked down (it is the only one that can take it).
    multi!.markDown(60_000);
    expect(p.pick(undefined, undefined, "sv-SE")).toBe(multi);
    // No worker speaks it: none is picked.
    expect(p.pick(undefined, undefined, "fi-FI")).toBeUndefined();
  });

  it("counts capacity per language and reserves on a worker that speaks it", async () => {
    const english = await recognizer(["en-US"], 1);
    const swedish = await recognizer(["sv-SE", "en-US"], 1);
    const p = await pool(english, swedish);
    const [en, sv] = p.workers;
    const first = p.reserve(60_000, "sv-SE");
    expect(first?.worker).toBe(sv);
    // The only worker that speaks Swedish is full; English still has room.
    expect(p.hasCapacity("sv-SE")).toBe(false);
    expect(p.reserve(60_000, "sv-SE")).toBeUndefined();
    expect(p.hasCapacity("en-US")).toBe(true);
    expect(p.reserve(60_000, "en-US")?.worker).toBe(en);
    expect(p.hasCapacity("en-US")).toBe(false);
    first!.release();
    expect(p.hasCapacity("sv-SE")).toBe(true);
    expect(p.hasCapacity("en-US")).toBe(true); // the bilingual worker's slot is free again
  });

  it("knows a language no worker speaks only once every worker has said which it speaks", async () => {
    const english = await recognizer(["en-US"]);
    const p = await pool(english);
    expect(p.unsupported("sv-SE")).toBe(true);
    expect(p.hasCapacity("sv-SE")).toBe(false);
    expect(p.reserve(60_000, "sv-SE")).toBeUndefined();
    expect(p.unsupported("en-US")).toBe(false);
    expect(p.unsupported("en-GB")).toBe(false);
    expect(p.unsupported(undefined)).toBe(false); // no language asked: the worker's default
    // A worker not probed yet may speak it: not refused as unsupported, and admitted.
    const unprobed = new AsrWorkerPool({ addresses: [english.address], logger });
    cleanups.push(() => unprobed.close());
    expect(unprobed.unsupported("sv-SE")).toBe(false);
    expect(unprobed.hasCapacity("sv-SE")).toBe(true);
    // An empty pool is not a language question.
    const empty = new AsrWorkerPool({ addresses: [], logger });
    expect(empty.unsupported("sv-SE")).toBe(false);
  });

  it("takes a worker that lists no languages for one that accepts any", async () => {
    const unlisted = await recognizer([]);
    const p = await pool(unlisted);
    expect(p.unsupported("sv-SE")).toBe(false);
    expect(p.pick(undefined, undefined, "sv-SE")).toBe(p.workers[0]);
    expect(p.reserve(60_000, "sv-SE")?.worker).toBe(p.workers[0]);
  });

  it("lists the primary languages its workers recognise for other nodes, and none while any may be", async () => {
    const english = await recognizer(["en-US"]);
    const many = await recognizer(["sv-SE", "en-GB", "de"]);
    expect((await pool(english, many)).servedLanguages()).toEqual(["de", "en", "sv"]);
    expect((await pool(english)).servedLanguages()).toEqual(["en"]);
    // A worker that takes any language, or has not described itself yet: any language may be served.
    expect((await pool(english, await recognizer([]))).servedLanguages()).toBeUndefined();
    const unprobed = new AsrWorkerPool({ addresses: [english.address], logger });
    cleanups.push(() => unprobed.close());
    expect(unprobed.servedLanguages()).toBeUndefined();
    expect(new AsrWorkerPool({ addresses: [], logger }).servedLanguages()).toBeUndefined();
  });

  it("streams a Swedish conversation to the worker that speaks Swedish, never to the English one", async () => {
    const english = await recognizer(["en-US"]);
    const swedish = await recognizer(["sv"]);
    const p = await pool(english, swedish);
    const states: StreamState[] = [];
    // Admitted on the English worker's slot (as an older node might have): the stream still goes to Swedish.
    const stream = new RecognitionStream({
      sessionId: "sv-session",
      pool: p,
      logger,
      language: "sv-SE",
      onSegment: () => {},
      onState: (s) => states.push(s),
    });
    cleanups.push(() => stream.close());
    stream.hold(p.reserve(60_000, "en-US")!);
    stream.push(new Int16Array(320), 0, performance.now());
    await expect.poll(() => stream.state, { timeout: 5_000 }).toBe(StreamState.LIVE);
    expect(swedish.streams).toHaveLength(1);
    expect(english.streams).toHaveLength(0);
    const config = swedish.streams[0]!.requests[0]!.kind;
    expect(config.case === "config" && config.value.language).toBe("sv-SE");
    expect(states).not.toContain(StreamState.RECONNECTING);
  });

  it("fails a stream at once, opening none, when no worker speaks its language", async () => {
    const english = await recognizer(["en-US"]);
    const p = await pool(english);
    const states: [StreamState, string][] = [];
    const stream = new RecognitionStream({
      sessionId: "nobody-speaks-it",
      pool: p,
      logger,
      language: "sv-SE",
      onSegment: () => {},
      onState: (s, d) => states.push([s, d]),
    });
    cleanups.push(() => stream.close());
    stream.push(new Int16Array(320), 0, performance.now());
    expect(stream.state).toBe(StreamState.FAILED);
    expect(states.at(-1)![1]).toMatch(/sv-SE/);
    expect(english.streams).toHaveLength(0);
    expect(p.workers[0]!.activeStreams).toBe(0);
  });
});
