// The real Python speech worker against its gRPC contract, once per engine:
// pocketsphinx (a process per stream) and Whisper (one batch scheduler), the
// latter with a tiny random-weight model written in the Hugging Face layout
// and loaded through the same code path as a real checkpoint. Random weights
// transcribe nothing meaningful: only pocketsphinx's text is checked.
// Every Recognize case runs twice: through grpc-js (the reference client) and
// through the bridge's own HTTP/2 client (AsrWorker.recognize), which must
// speak the same protocol and end calls with the same statuses.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type RecognizeRequest,
  RecognizeRequestSchema,
  type RecognizeResponse,
  SpeechRecognizer,
  type WorkerInfo,
} from "@parley/proto/asr";
import { grpcServiceDefinition } from "@parley/proto/grpc";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AsrWorker } from "../src/AsrWorkerPool.ts";
import { ASR_WORKER_DIR, AsrWorkerProcess } from "../src/AsrWorkerProcess.ts";

const WAV = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0880.wav";
const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SpeechRecognizer), "SpeechRecognizer");
/** What both clients' Recognize calls offer (grpc-js's ClientDuplexStream, the bridge's Http2RecognizeCall). */
interface Call {
  write(request: RecognizeRequest): unknown;
  end(): void;
  cancel(): void;
  on(event: "data", listener: (response: RecognizeResponse) => void): unknown;
  on(event: "error", listener: (error: grpc.ServiceError) => void): unknown;
  on(event: "end", listener: () => void): unknown;
  once(event: "data", listener: (response: RecognizeResponse) => void): unknown;
}

let worker: AsrWorkerProcess;
let client: grpc.Client & {
  recognize: () => grpc.ClientDuplexStream<RecognizeRequest, RecognizeResponse>;
  getWorkerInfo: (r: object, cb: (e: grpc.ServiceError | null, v?: WorkerInfo) => void) => void;
};
let bridge: AsrWorker;
const CLIENTS: { name: string; recognize: () => Call }[] = [
  { name: "grpc-js", recognize: () => client.recognize() },
  { name: "the bridge's HTTP/2 client", recognize: () => bridge.recognize(60_000) as unknown as Call },
];
const pcm = execFileSync("sox", [WAV, "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"]);

interface EngineCase {
  engine: string;
  /** Extra worker arguments; may prepare files (removed by cleanup). */
  args: () => string[];
  cleanup?: () => void;
  /** What the recording says, for engines that can transcribe it. */
  text?: RegExp;
  languages: string[];
  /** A second language it serves: requested tag, and the language it answers with. */
  otherLanguage?: [string, string];
}

let whisperModel: string | undefined;
const ENGINES: EngineCase[] = [
  { engine: "pocketsphinx", args: () => [], text: /young man/, languages: ["en-US"] },
  {
    engine: "whisper",
    args: () => {
      whisperModel = mkdtempSync(path.join(tmpdir(), "tiny-whisper-"));
      execFileSync(
        path.join(ASR_WORKER_DIR, ".venv/bin/python"),
        ["-m", "parley_asr.whisper.synthetic", whisperModel],
        {
          cwd: ASR_WORKER_DIR,
          stdio: "ignore",
        },
      );
      return ["--engine", "whisper", "--model-path", whisperModel];
    },
    cleanup: () => {
      if (whisperModel) rmSync(whisperModel, { recursive: true, force: true });
    },
    languages: ["en", "sv"],
    otherLanguage: ["sv-SE", "sv"],
  },
];

const info = () =>
  new Promise<WorkerInfo>((resolve, reject) =>
    client.getWorkerInfo({ $typeName: "parley.asr.v1.GetWorkerInfoRequest" }, (e, v) =>
      e || !v ? reject(e) : resolve(v),
    ),
  );

const config = (startOffsetSamples = 0, firstSegmentId = 0) =>
  create(RecognizeRequestSchema, {
    kind: {
      case: "config",
      value: { sessionId: "asr-test", sampleRateHz: 16_000, startOffsetSamples, firstSegmentId },
    },
  });
const audio = (offsetSamples: number, bytes: Uint8Array) =>
  create(RecognizeRequestSchema, { kind: { case: "audio", value: { offsetSamples, pcm: bytes } } });

/** Collects responses until the stream ends or fails. */
function run(call: Call): Promise<{ responses: RecognizeResponse[]; error?: grpc.ServiceError }> {
  const responses: RecognizeResponse[] = [];
  return new Promise((resolve) => {
    call.on("data", (r: RecognizeResponse) => responses.push(r));
    call.on("error", (error: grpc.ServiceError) => resolve({ responses, error }));
    call.on("end", () => resolve({ responses }));
  });
}

for (const spec of ENGINES)
  describe(`${spec.engine} speech worker`, () => {
    beforeAll(async () => {
      worker = await AsrWorkerProcess.start({
        logger: pino({ level: "silent" }),
        maxStreams: 2,
        workerId: "test",
        extraArgs: spec.args(),
        startTimeoutMs: 120_000,
      });
      client = new Client(worker.address, grpc.credentials.createInsecure()) as unknown as typeof client;
      bridge = new AsrWorker(worker.address);
    }, 180_000);
    afterAll(async () => {
      client?.close();
      bridge?.close();
      await worker?.stop();
      spec.cleanup?.();
    });

    it("describes itself", async () => {
      const described = await info();
      expect(described).toMatchObject({ engine: spec.engine, maxStreams: 2, workerId: "test" });
      expect(described.languages).toEqual(expect.arrayContaining(spec.languages));
      expect(described.lagMs).toBeGreaterThanOrEqual(0);
    });

    for (const via of CLIENTS)
      describe(`Recognize via ${via.name}`, () => {
        it("streams partials, then a final with word timings on the conversation clock, and commits the audio", async () => {
          const call = via.recognize();
          const done = run(call);
          const origin = 16_000 * 60; // resumed conversation: this stream starts one minute in
          call.write(config(origin, 7));
          for (let at = 0; at < pcm.length; at += 640) call.write(audio(origin + at / 2, pcm.subarray(at, at + 640)));
          call.write(create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }));
          call.end();
          const { responses, error } = await done;
          expect(error).toBeUndefined();
          expect(responses[0]!.kind.case).toBe("ready");
          const segments = responses.flatMap((r) => (r.kind.case === "segment" ? [r.kind.value] : []));
          const partials = segments.filter((s) => !s.isFinal);
          const finals = segments.filter((s) => s.isFinal);
          expect(partials.length).toBeGreaterThan(0);
          expect(finals.length).toBeGreaterThan(0);
          expect(segments.findIndex((s) => !s.isFinal)).toBeLessThan(segments.findIndex((s) => s.isFinal));
          expect(finals[0]!.segmentId).toBe(7);
          if (spec.text) expect(finals.map((f) => f.text).join(" ")).toMatch(spec.text);
          for (const f of finals) {
            expect(f.words.length).toBeGreaterThan(0);
            for (const w of f.words) {
              expect(w.startMs).toBeGreaterThanOrEqual(60_000);
              expect(w.endMs).toBeGreaterThanOrEqual(w.startMs);
              expect(w.text).not.toMatch(/^<|\(\d\)|^\[/);
            }
          }
          const acks = responses.flatMap((r) => (r.kind.case === "ack" ? [r.kind.value.committedOffsetSamples] : []));
          expect(acks.at(-1)).toBe(origin + pcm.length / 2);
        }, 30_000);

        const otherLanguage = spec.otherLanguage;
        if (otherLanguage)
          it("serves the language the stream asks for", async () => {
            const [requested, served] = otherLanguage;
            const call = via.recognize();
            const done = run(call);
            call.write(
              create(RecognizeRequestSchema, {
                kind: { case: "config", value: { sessionId: "asr-test", sampleRateHz: 16_000, language: requested } },
              }),
            );
            for (let at = 0; at < pcm.length; at += 640) call.write(audio(at / 2, pcm.subarray(at, at + 640)));
            call.write(create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }));
            call.end();
            const { responses, error } = await done;
            expect(error).toBeUndefined();
            expect(responses[0]!.kind.case === "ready" && responses[0]!.kind.value.language).toBe(served);
            const segments = responses.flatMap((r) => (r.kind.case === "segment" ? [r.kind.value] : []));
            expect(segments.length).toBeGreaterThan(0);
            for (const s of segments) expect(s.language).toBe(served);
          }, 30_000);

        it("rejects audio before the config", async () => {
          const call = via.recognize();
          const done = run(call);
          call.write(audio(0, pcm.subarray(0, 640)));
          const { error } = await done;
          expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
          expect(error?.details).toMatch(/config/);
        });

        it("rejects a gap or an overlap in the audio offsets", async () => {
          const call = via.recognize();
          const done = run(call);
          call.write(config());
          call.write(audio(0, pcm.subarray(0, 640)));
          call.write(audio(640, pcm.subarray(640, 1280))); // expected 320
          const { error } = await done;
          expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
          expect(error?.details).toMatch(/320/);
        });

        it("refuses streams beyond its capacity, and frees a cancelled one", async () => {
          const open = [via.recognize(), via.recognize()];
          const ready = open.map((call) => {
            call.on("error", () => {});
            return new Promise<void>((resolve) => call.once("data", () => resolve()));
          });
          for (const call of open) call.write(config());
          await Promise.all(ready);
          expect((await info()).activeStreams).toBe(2);
          const third = via.recognize();
          const done = run(third);
          third.write(config());
          expect((await done).error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
          for (const call of open) call.cancel();
          await expect.poll(async () => (await info()).activeStreams, { timeout: 10_000 }).toBe(0);
        }, 30_000);
      });
  });
