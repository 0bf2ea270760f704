// The bridge's own HTTP/2 client for Recognize against raw node:http2
// servers on port 0: it must put on the wire exactly what grpc-js puts there
// (same headers that matter, byte-identical body), read responses however
// HTTP/2 splits them, and end every call with the status grpc-js would give:
// trailers, trailers-only refusals, non-gRPC answers, resets, a lost
// connection, no server, a deadline, a cancel, and broken framing.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type RecognizeRequest,
  RecognizeRequestSchema,
  type RecognizeResponse,
  RecognizeResponseSchema,
  SpeechRecognizer,
} from "@parley/proto/asr";
import { grpcFrame } from "@parley/proto/asr-wire";
import { grpcServiceDefinition } from "@parley/proto/grpc";
import { afterEach, describe, expect, it } from "vitest";
import { AsrWorker } from "../src/AsrWorkerPool.ts";
import { GrpcMessageReader } from "../src/grpc/GrpcMessageReader.ts";
import type { GrpcCallError } from "../src/grpc/grpcStatus.ts";
import { grpcTimeout } from "../src/grpc/grpcStatus.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface ReceivedCall {
  headers: http2.IncomingHttpHeaders;
  stream: http2.ServerHttp2Stream;
  body: Promise<Buffer>;
  closed: Promise<number>; // the RST code the stream closed with
}

/** A raw HTTP/2 server: every stream is handed to `onCall` with its headers and whole request body. */
async function rawServer(onCall: (call: ReceivedCall) => void) {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  const calls: ReceivedCall[] = [];
  server.on("session", (session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
  });
  server.on("stream", (stream, headers) => {
    stream.on("error", () => {});
    const chunks: Buffer[] = [];
    const body = new Promise<Buffer>((resolve) => {
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => resolve(Buffer.concat(chunks)));
      stream.on("close", () => resolve(Buffer.concat(chunks)));
    });
    const closed = new Promise<number>((resolve) => stream.on("close", () => resolve(stream.rstCode)));
    const call = { headers, stream, body, closed };
    calls.push(call);
    onCall(call);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  );
  const dropConnections = () => {
    for (const s of sessions) s.destroy();
  };
  return { address, calls, dropConnections };
}

function bridgeCall(address: string, deadlineMs = 60_000, authToken?: string) {
  const worker = new AsrWorker(address, authToken ? { authToken } : {});
  cleanups.push(() => worker.close());
  return worker.recognize(deadlineMs);
}

/** Everything a call emits until it ends. */
function outcome(call: {
  on(e: "data", l: (r: RecognizeResponse) => void): unknown;
  on(e: "error", l: (e: GrpcCallError) => void): unknown;
  on(e: "end", l: () => void): unknown;
}) {
  const responses: RecognizeResponse[] = [];
  return new Promise<{ responses: RecognizeResponse[]; error?: GrpcCallError }>((resolve) => {
    call.on("data", (r) => responses.push(r));
    call.on("error", (error) => resolve({ responses, error }));
    call.on("end", () => resolve({ responses }));
  });
}

const messages = (body: Buffer) => {
  const out: RecognizeRequest[] = [];
  new GrpcMessageReader(1 << 20).push(body, (m) => out.push(fromBinary(RecognizeRequestSchema, Uint8Array.from(m))));
  return out;
};

const pcmOf = (bytes: number, seed: number) => Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff);
const requests: RecognizeRequest[] = [
  create(RecognizeRequestSchema, {
    kind: {
      case: "config",
      value: { sessionId: "wire-test", sampleRateHz: 16_000, language: "sv-SE", startOffsetSamples: 320 },
    },
  }),
  create(RecognizeRequestSchema, {
    kind: { case: "audio", value: { offsetSamples: 320, pcm: pcmOf(640, 1), capturedAtMs: 1_700_000_000_123.5 } },
  }),
  create(RecognizeRequestSchema, { kind: { case: "audio", value: { offsetSamples: 640, pcm: pcmOf(3200, 2) } } }),
  create(RecognizeRequestSchema, { kind: { case: "end", value: {} } }),
];
const ready = create(RecognizeResponseSchema, { kind: { case: "ready", value: { engine: "raw" } } });
const ack = create(RecognizeResponseSchema, { kind: { case: "ack", value: { committedOffsetSamples: 2240 } } });

/** Answers a call once its body is complete: `ready`, `ack`, then status OK. */
function answerOk(call: ReceivedCall) {
  void call.body.then(() => {
    if (call.stream.closed) return;
    call.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
    call.stream.on("wantTrailers", () => call.stream.sendTrailers({ "grpc-status": "0" }));
    call.stream.end(
      Buffer.concat([
        grpcFrame(toBinary(RecognizeResponseSchema, ready)),
        grpcFrame(toBinary(RecognizeResponseSchema, ack)),
      ]),
    );
  });
}

/** Parses a grpc-timeout header into milliseconds. */
const timeoutMs = (value: string) => {
  const unit = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 1e-3, n: 1e-6 }[value.at(-1)!]!;
  return Number(value.slice(0, -1)) * unit;
};

describe("the bridge's HTTP/2 Recognize client", () => {
  it("puts on the wire what grpc-js puts there: the headers that matter and the same body bytes", async () => {
    const server = await rawServer(answerOk);
    // grpc-js, as the node used it before, with the same token and deadline.
    const Client = grpc.makeGenericClientConstructor(grpcServiceDefinition(SpeechRecognizer), "SpeechRecognizer");
    const reference = new Client(server.address, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      recognize: (
        m: grpc.Metadata,
        o: grpc.CallOptions,
      ) => grpc.ClientDuplexStream<RecognizeRequest, RecognizeResponse>;
    };
    cleanups.push(() => reference.close());
    const metadata = new grpc.Metadata();
    metadata.set("authorization", "Bearer the-token");
    const theirs = reference.recognize(metadata, { deadline: Date.now() + 60_000 });
    const theirOutcome = outcome(theirs as unknown as Parameters<typeof outcome>[0]);
    for (const r of requests) theirs.write(r);
    theirs.end();

    const ours = bridgeCall(server.address, 60_000, "the-token");
    const ourOutcome = outcome(ours);
    for (const r of requests) {
      if (r.kind.case === "audio")
        ours.writeAudio(r.kind.value.offsetSamples, r.kind.value.pcm, r.kind.value.capturedAtMs);
      else ours.write(r);
    }
    ours.end();

    const [a, b] = [await theirOutcome, await ourOutcome];
    expect(a.error).toBeUndefined();
    expect(b.error).toBeUndefined();
    expect(b.responses).toEqual(a.responses);
    expect(b.responses.map((r) => r.kind.case)).toEqual(["ready", "ack"]);

    expect(server.calls).toHaveLength(2);
    const [reference_, bridge] = server.calls as [ReceivedCall, ReceivedCall];
    const [referenceBody, bridgeBody] = [await reference_.body, await bridge.body];
    expect(bridgeBody.equals(referenceBody)).toBe(true);
    expect(messages(bridgeBody)).toEqual(requests);
    for (const name of [":method", ":path", ":scheme", "content-type", "te", "authorization"])
      expect([name, bridge.headers[name]]).toEqual([name, reference_.headers[name]]);
    expect(bridge.headers[":path"]).toBe("/parley.asr.v1.SpeechRecognizer/Recognize");
    expect(bridge.headers.authorization).toBe("Bearer the-token");
    const deadlines = [reference_, bridge].map((c) => timeoutMs(String(c.headers["grpc-timeout"])));
    expect(Math.abs(deadlines[0]! - deadlines[1]!)).toBeLessThan(2_000);
    expect(String(bridge.headers["grpc-timeout"])).toMatch(/^\d{1,8}[HMSmun]$/);
  });

  it("reads messages however HTTP/2 splits them, and ends with the trailers' status and message", async () => {
    const responses = Array.from({ length: 5 }, (_, i) =>
      create(RecognizeResponseSchema, {
        kind: { case: "segment", value: { segmentId: i, text: `partial ${i} ${"x".repeat(i * 300)}`, endMs: i * 100 } },
      }),
    );
    const bytes = Buffer.concat(responses.map((r) => grpcFrame(toBinary(RecognizeResponseSchema, r))));
    const server = await rawServer(async (call) => {
      call.stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      call.stream.on("wantTrailers", () =>
        call.stream.sendTrailers({ "grpc-status": "3", "grpc-message": "bad%20offset%3A%20320%20%E2%9C%93" }),
      );
      // Pieces of 1, 2, 3, ... bytes, each its own DATA frame: prefixes and messages cut everywhere.
      for (let at = 0, n = 1; at < bytes.length; at += n, n++) {
        call.stream.write(bytes.subarray(at, at + n));
        await new Promise((r) => setImmediate(r));
      }
      call.stream.end();
    });
    const call = bridgeCall(server.address);
    const result = outcome(call);
    call.write(requests[0]!);
    const { responses: got, error } = await result;
    expect(got).toEqual(responses);
    expect(error?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(error?.details).toBe("bad offset: 320 ✓");
    expect(error?.message).toBe("3 INVALID_ARGUMENT: bad offset: 320 ✓");
  });

  it("takes a trailers-only refusal (the worker at capacity, a wrong token) as the call's status", async () => {
    const server = await rawServer((call) =>
      call.stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "8", "grpc-message": "no free stream" },
        { endStream: true },
      ),
    );
    const call = bridgeCall(server.address);
    const result = outcome(call);
    call.write(requests[0]!);
    const { error } = await result;
    expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe("no free stream");
  });

  it("maps an answer that is not gRPC, and a reset stream, as grpc-js does", async () => {
    const server = await rawServer((call) => {
      if (call.headers.authorization === "Bearer reset") call.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      else {
        call.stream.respond({ ":status": 503, "content-type": "text/plain" });
        call.stream.end("overloaded");
      }
    });
    const http = outcome(bridgeCall(server.address));
    expect((await http).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await http).error?.details).toBe("Received HTTP status code 503");
    const reset = outcome(bridgeCall(server.address, 60_000, "reset"));
    expect((await reset).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await reset).error?.details).toBe("Stream refused by server");
  });

  it("ends calls UNAVAILABLE when the connection drops or there is no server, and reconnects for the next call", async () => {
    const server = await rawServer((call) => {
      if (call.headers.authorization !== "Bearer answer")
        call.stream.respond({ ":status": 200, "content-type": "application/grpc" });
      else answerOk(call);
    });
    const worker = new AsrWorker(server.address);
    cleanups.push(() => worker.close());
    const first = worker.recognize(60_000);
    const dropped = outcome(first);
    first.write(requests[0]!);
    await expect.poll(() => server.calls.length).toBe(1);
    server.dropConnections();
    const { error } = await dropped;
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    expect(error?.details).toMatch(/Connection dropped/);
    // The next call opens a new connection.
    const again = new AsrWorker(server.address, { authToken: "answer" });
    cleanups.push(() => again.close());
    const second = again.recognize(60_000);
    const ok = outcome(second);
    second.write(requests[0]!);
    second.end();
    expect((await ok).error).toBeUndefined();
    const third = worker.recognize(60_000);
    const open = outcome(third);
    third.write(requests[0]!);
    await expect.poll(() => server.calls.length).toBe(3); // the same worker reconnected
    third.cancel();

    const nobody = outcome(bridgeCall("127.0.0.1:1"));
    expect((await nobody).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await open).error?.code).toBe(grpc.status.CANCELLED);
  });

  it("gives up at the deadline and cancels: the worker sees the stream reset", async () => {
    const server = await rawServer((call) =>
      call.stream.respond({ ":status": 200, "content-type": "application/grpc" }),
    );
    const late = bridgeCall(server.address, 300);
    const result = outcome(late);
    late.write(requests[0]!);
    expect((await result).error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(await server.calls[0]!.closed).toBe(http2.constants.NGHTTP2_CANCEL);

    const cancelled = bridgeCall(server.address);
    cancelled.write(requests[0]!);
    await expect.poll(() => server.calls.length).toBe(2);
    cancelled.cancel(); // nobody listens for errors: nothing is thrown
    cancelled.cancel();
    expect(await server.calls[1]!.closed).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("ends the call with an error, and resets it, on a compressed or oversized message", async () => {
    const server = await rawServer((call) => {
      call.stream.respond({ ":status": 200, "content-type": "application/grpc" });
      const frame = Buffer.alloc(5);
      if (call.headers.authorization === "Bearer huge") frame.writeUInt32BE(64 * 1024 * 1024, 1);
      else frame[0] = 1; // compressed, though only identity was accepted
      call.stream.write(frame);
    });
    const compressed = outcome(bridgeCall(server.address));
    expect((await compressed).error?.code).toBe(grpc.status.INTERNAL);
    const huge = outcome(bridgeCall(server.address, 60_000, "huge"));
    expect((await huge).error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(await server.calls[0]!.closed).toBe(http2.constants.NGHTTP2_CANCEL);
    expect(await server.calls[1]!.closed).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("writes grpc-timeout with at most 8 digits, rounded up", () => {
    expect(grpcTimeout(900_000)).toBe("900000m");
    expect(grpcTimeout(0.2)).toBe("1m");
    expect(grpcTimeout(100_000_000)).toBe("100000S");
    expect(grpcTimeout(1e13)).toBe("2777778H");
  });
});
