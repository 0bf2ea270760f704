// The real pocketsphinx worker transcribes the same audio the same way, whatever
// came before it: another customer's stream on the same engine process, or the
// first part of this very stream on a worker that then died. The engine is
// deterministic, so the transcripts must be equal, not merely close.
//
// Each test starts a worker with one engine process (maxStreams 1), which
// serves every stream in turn, as a busy worker's process serves one customer
// after another; its first stream is the reference.
import { execFileSync } from "node:child_process";
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
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AsrWorkerProcess } from "../src/AsrWorkerProcess.ts";

const LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb";
const pcmOf = (id: string) =>
  execFileSync("sox", [
    `${LIBRIVOX}-${id}.wav`,
    "-t",
    "raw",
    "-r",
    "16000",
    "-c",
    "1",
    "-b",
    "16",
    "-e",
    "signed",
    "-",
  ]);
const FRAME_BYTES = 640; // 20 ms, as the bridge sends live audio

const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SpeechRecognizer), "SpeechRecognizer");
type Call = grpc.ClientDuplexStream<RecognizeRequest, RecognizeResponse>;
let worker: AsrWorkerProcess;
let client: grpc.Client & {
  recognize: () => Call;
  getWorkerInfo: (r: object, cb: (e: grpc.ServiceError | null, v?: WorkerInfo) => void) => void;
};
const activeStreams = () =>
  new Promise<number>((resolve, reject) =>
    client.getWorkerInfo({ $typeName: "parley.asr.v1.GetWorkerInfoRequest" }, (e, v) =>
      e || !v ? reject(e) : resolve(v.activeStreams),
    ),
  );

beforeEach(async () => {
  worker = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), maxStreams: 1, workerId: "resume" });
  client = new Client(worker.address, grpc.credentials.createInsecure()) as unknown as typeof client;
}, 60_000);
afterEach(async () => {
  client?.close();
  await worker?.stop();
});

interface Heard {
  /** Final text per segment id. */
  finals: Map<number, string>;
  committed: number;
  /** Resolves once no answer came for a while: the worker has worked off what it was sent. */
  quiet: () => Promise<void>;
  done: Promise<grpc.ServiceError | undefined>;
}

function listen(call: Call, into: Heard["finals"] = new Map()): Heard {
  let lastAnswer = performance.now();
  const heard: Heard = {
    finals: into,
    committed: 0,
    quiet: async () => {
      lastAnswer = Math.max(lastAnswer, performance.now());
      while (performance.now() - lastAnswer < 1_000) await new Promise((r) => setTimeout(r, 50));
    },
    done: new Promise((resolve) => {
      call.on("error", (error: grpc.ServiceError) => resolve(error));
      call.on("end", () => resolve(undefined));
    }),
  };
  call.on("data", (r: RecognizeResponse) => {
    lastAnswer = performance.now();
    if (r.kind.case === "segment" && r.kind.value.isFinal) into.set(r.kind.value.segmentId, r.kind.value.text);
    if (r.kind.case === "ack") heard.committed = Math.max(heard.committed, r.kind.value.committedOffsetSamples);
  });
  return heard;
}

const text = (finals: Map<number, string>) =>
  [...finals.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, t]) => t)
    .join(" ");

function open(startOffsetSamples: number, firstSegmentId: number): Call {
  const call = client.recognize();
  call.write(
    create(RecognizeRequestSchema, {
      kind: {
        case: "config",
        value: { sessionId: "resume", sampleRateHz: 16_000, startOffsetSamples, firstSegmentId },
      },
    }),
  );
  return call;
}

/** Writes `bytes` (starting at sample `offset`) in 20 ms chunks, or as one chunk. */
function send(call: Call, bytes: Uint8Array, offset: number, chunkBytes = FRAME_BYTES): void {
  for (let at = 0; at < bytes.length; at += chunkBytes)
    call.write(
      create(RecognizeRequestSchema, {
        kind: { case: "audio", value: { offsetSamples: offset + at / 2, pcm: bytes.subarray(at, at + chunkBytes) } },
      }),
    );
}

async function transcribe(pcm: Uint8Array): Promise<string> {
  const call = open(0, 0);
  const heard = listen(call);
  send(call, pcm, 0);
  call.write(create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }));
  call.end();
  expect(await heard.done).toBeUndefined();
  return text(heard.finals);
}

describe("pocketsphinx speech worker, one engine process", () => {
  it("transcribes a recording the same whatever the process decoded before", async () => {
    const recording = pcmOf("0930");
    const first = await transcribe(recording);
    await transcribe(pcmOf("0880")); // another customer in between
    expect(first).toMatch(/he might even have been made/);
    expect(await transcribe(recording)).toBe(first);
  }, 120_000);

  it("resumes a stream whose worker died mid-utterance with the transcript it would have had", async () => {
    const recording = pcmOf("0870"); // 7 s, one utterance
    const uninterrupted = await transcribe(recording);

    // The first stream hears 3 s, then its worker dies (the call breaks without an end).
    const cut = 3 * 16_000 * 2;
    const dying = open(0, 0);
    const before = listen(dying);
    send(dying, recording.subarray(0, cut), 0);
    await before.quiet();
    dying.cancel();
    await before.done;
    await expect.poll(activeStreams, { timeout: 10_000 }).toBe(0); // its engine process is free again
    expect(before.committed).toBe(0); // mid-utterance: nothing was final yet

    // The bridge resumes at the committed offset: the replay in one message, then live audio.
    const resumed = open(before.committed, before.finals.size);
    const after = listen(resumed, before.finals);
    send(resumed, recording.subarray(before.committed * 2, cut), before.committed, cut);
    send(resumed, recording.subarray(cut), cut / 2);
    resumed.write(create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }));
    resumed.end();
    expect(await after.done).toBeUndefined();
    expect(text(after.finals)).toBe(uninterrupted);
  }, 120_000);
});
