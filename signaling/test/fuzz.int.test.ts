// Fuzzing the customer WebSocket while a real customer talks. A node runs in
// its own process (so its memory is its own); several sockets send more
// than 10,000 generated frames: random bytes, valid messages of every kind
// with random fields, the same truncated or mutated, text frames, oversized
// frames, and valid requests in random order on sessions of their own.
// Meanwhile one WebRTC customer (werift) streams the five librivox
// recordings. The node must stay up with bounded memory, and the customer's
// transcript must stay within the voice-path test's WER bar.
//
// Figures printed: frames sent by kind, the node's RSS before and after, log
// lines the node wrote. FUZZ_SEED=n replays a run.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ASR_WORKER_DIR, freePort } from "@parley/inference-bridge";
import {
  corpusWer,
  createSession,
  type Endpoint,
  librivoxRecordings,
  opusPacketsFromFile,
  ProtocolClient,
  SessionRefused,
  WeriftCustomer,
} from "@parley/loadtest";
import { ClientMessageSchema, type ServerMessage } from "@parley/proto/ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../src/config.ts";

const SOCKETS = 8;
const FRAMES_PER_SOCKET = 1_300;
const MAX_MESSAGE_BYTES = 64 * 1024;
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);

/** mulberry32: a small seeded generator, so a failing run can be replayed. */
function generator(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]) => items[int(items.length)]!;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  const text = (n: number) => String.fromCharCode(...Array.from({ length: n }, () => 32 + int(95)));
  return { next, int, pick, bytes, text };
}
type Rng = ReturnType<typeof generator>;
type Kind = MessageInitShape<typeof ClientMessageSchema>["kind"];

/** A valid ClientMessage of a random kind with random, mostly wrong, fields. */
function randomKind(rng: Rng, known: { token: string; transportIds: string[] }): Kind {
  const id = () =>
    known.transportIds.length && rng.next() < 0.5 ? rng.pick(known.transportIds) : rng.text(rng.int(40));
  const dtls = () => ({
    role: rng.pick(["client", "server", "auto", rng.text(5)]),
    fingerprints: Array.from({ length: rng.int(3) }, () => ({
      algorithm: rng.pick(["sha-256", "sha-1", rng.text(6)]),
      value: rng.text(rng.int(100)),
    })),
  });
  const rtp = () => ({
    mid: rng.text(rng.int(4)),
    codecs: Array.from({ length: rng.int(3) }, () => ({
      mimeType: rng.pick(["audio/opus", "video/VP8", rng.text(10)]),
      payloadType: rng.int(256),
      clockRate: rng.pick([48_000, 0, rng.int(1e6)]),
      channels: rng.int(4),
    })),
    encodings: [{ ssrc: rng.int(2 ** 32) }],
  });
  switch (rng.int(9)) {
    case 0:
      return { case: "join", value: { token: rng.next() < 0.5 ? known.token : rng.text(rng.int(300)) } };
    case 1:
      return { case: "getRouterRtpCapabilities", value: {} };
    case 2:
      return { case: "createTransport", value: { direction: rng.int(5) } };
    case 3:
      return { case: "connectTransport", value: { transportId: id(), dtlsParameters: dtls() } };
    case 4:
      return {
        case: "produce",
        value: { transportId: id(), kind: rng.pick(["audio", "video", rng.text(8)]), rtpParameters: rtp() },
      };
    case 5:
      return { case: "consumeAiVoice", value: { transportId: id(), rtpCapabilities: { codecs: [] } } };
    case 6:
      return { case: "resumeConsumer", value: { consumerId: id() } };
    case 7:
      return { case: "endSession", value: {} };
    default:
      return { case: undefined };
  }
}

const encode = (rng: Rng, kind: Kind) =>
  toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId: rng.int(2 ** 32), kind }));

const KINDS = ["random", "valid", "truncated", "mutated", "text", "oversized", "cut-off"] as const;
type FrameKind = (typeof KINDS)[number];

function frame(rng: Rng, known: { token: string; transportIds: string[] }): [FrameKind, Uint8Array | string] {
  const roll = rng.next();
  if (roll < 0.2) return ["random", rng.bytes(1 + rng.int(512))];
  if (roll < 0.45) return ["valid", encode(rng, randomKind(rng, known))];
  if (roll < 0.65) {
    const valid = encode(rng, randomKind(rng, known));
    return ["truncated", valid.subarray(0, rng.int(valid.length))];
  }
  if (roll < 0.88) {
    const mutated = Uint8Array.from(encode(rng, randomKind(rng, known)));
    for (let i = 0, n = 1 + rng.int(4); i < n && mutated.length; i++) mutated[rng.int(mutated.length)] = rng.int(256);
    return ["mutated", mutated];
  }
  if (roll < 0.96) return ["text", rng.text(rng.int(200))];
  if (roll < 0.999) return ["oversized", rng.bytes(MAX_MESSAGE_BYTES + 1 + rng.int(MAX_MESSAGE_BYTES))];
  return ["cut-off", new Uint8Array(MAX_MESSAGE_BYTES * 5)]; // beyond uWS's own limit: the socket is cut
}

interface Node extends Endpoint {
  child: ChildProcess;
  internalUrl: string;
  logLines: () => number;
}

async function startNode(): Promise<Node> {
  const [port, internalPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "signaling/src/main.ts")], {
    env: {
      ...process.env,
      PORT: String(port),
      INTERNAL_PORT: String(internalPort),
      HOST: "127.0.0.1",
      MEDIASOUP_WORKERS: "1",
      LOG_LEVEL: "warn",
      JWT_SECRET: "fuzz-secret-fuzz-secret-fuzz-secret-0",
      // All fuzz sockets share 127.0.0.1: let them in, and let their frames reach the parser.
      WS_MAX_SOCKETS_PER_IP: "64",
      SESSIONS_MAX_PER_IP: "64",
      RATE_LIMIT_MAX_REQUESTS: "100000",
      WS_MAX_MESSAGES_PER_SECOND: "400",
      WS_MESSAGE_BURST: "800",
    },
    stdio: ["ignore", "pipe", "pipe"],
    cwd: path.join(REPO_ROOT, "signaling"),
  });
  let lines = 0;
  child.stdout!.on("data", (d: Buffer) => (lines += d.toString().split("\n").length - 1));
  child.stderr!.on("data", () => {});
  const url = `http://127.0.0.1:${port}`;
  const internalUrl = `http://127.0.0.1:${internalPort}`;
  for (let i = 0; i < 300; i++) {
    if ((await fetch(`${internalUrl}/ready`).catch(() => undefined))?.status === 200)
      return { child, url, internalUrl, logLines: () => lines };
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("node did not start");
}

/** Resident memory of a process, in MB. */
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

function finalText(messages: ServerMessage[]): string {
  const finals = new Map<number, string>();
  for (const m of messages)
    if (m.kind.case === "event" && m.kind.value.kind.case === "transcript" && m.kind.value.kind.value.isFinal)
      finals.set(m.kind.value.kind.value.segmentId, m.kind.value.kind.value.text);
  return [...finals.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, t]) => t)
    .join(" ");
}

/**
 * One fuzz socket's run: its own session, reconnecting whenever the node
 * closes it. Fuzz frames that offer a microphone hold a speech slot for
 * ASR_ADMISSION_HOLD_MS each, so the node may answer a new session with 503
 * (every worker busy): the fuzzer then waits a moment, as a client should.
 */
async function fuzzSocket(node: Node, rng: Rng, frames: number, sent: Record<FrameKind, number>, refusals: number[]) {
  let opened = 0;
  for (let done = 0; done < frames; ) {
    let token: string;
    try {
      ({ token } = await createSession(node));
    } catch (error) {
      if (!(error instanceof SessionRefused) || error.status !== 503) throw error;
      refusals.push(error.status);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    const socket = await ProtocolClient.open(node);
    opened++;
    const known = { token, transportIds: [] as string[] };
    const round = Math.min(frames - done, 100 + rng.int(400));
    for (let i = 0; i < round && !socket.closed; i++) {
      const [kind, data] = frame(rng, known);
      socket.sendRaw(data);
      sent[kind]++;
      done++;
      // Learn transport ids the node hands out, to aim later frames at real state.
      for (const m of socket.messages.splice(0))
        if (m.kind.case === "response" && m.kind.value.result.case === "transportCreated")
          known.transportIds.push(m.kind.value.result.value.id);
      if (i % 8 === 7) await new Promise((r) => setTimeout(r, 10));
    }
    socket.ws.terminate();
  }
  return opened;
}

let node: Node;
beforeAll(async () => {
  node = await startNode();
}, 120_000);
afterAll(() => {
  node?.child.kill("SIGTERM");
});

describe("fuzzing the customer WebSocket", () => {
  it("stays up, keeps its memory bounded and the real customer's transcript intact under 10,000+ bad frames", async () => {
    const recordings = librivoxRecordings();
    const offline = JSON.parse(
      execFileSync(
        path.join(ASR_WORKER_DIR, ".venv/bin/python"),
        ["-m", "parley_asr.offline", ...recordings.map((r) => r.wav)],
        {
          cwd: ASR_WORKER_DIR,
          encoding: "utf8",
        },
      ),
    ) as Record<string, string>;
    const offlineWer = corpusWer(recordings.map((r) => ({ reference: r.reference, hypothesis: offline[r.wav] ?? "" })));
    const werBar = 1.2 * offlineWer + 0.15; // the voice-path test's bar

    const customer = await WeriftCustomer.connect(node);
    try {
      const silence = (packets: Buffer[], n: number) => Array.from({ length: n }, () => packets[0]!);
      const speech = recordings.flatMap((r) => {
        const packets = opusPacketsFromFile(r.wav, 0.5);
        return [...packets, ...silence(packets, 50)];
      });
      const before = rssMb(node.child.pid!);
      const logsBefore = node.logLines();
      const sent = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<FrameKind, number>;
      const refusals: number[] = [];
      console.log(`fuzz seed ${SEED} (FUZZ_SEED=${SEED} replays this run)`);
      const [, ...opened] = await Promise.all([
        customer.play(speech),
        ...Array.from({ length: SOCKETS }, (_, i) =>
          fuzzSocket(node, generator(SEED + i + 1), FRAMES_PER_SOCKET, sent, refusals),
        ),
      ]);
      // The customer ends the conversation; every final arrives before the reply.
      customer.socket.sendRaw(
        toBinary(
          ClientMessageSchema,
          create(ClientMessageSchema, { requestId: 9_999, kind: { case: "endSession", value: {} } }),
        ),
      );
      await customer.socket.waitFor((m) => m.kind.case === "response" && m.kind.value.requestId === 9_999, 120_000);
      const after = rssMb(node.child.pid!);
      const total = Object.values(sent).reduce((a, b) => a + b, 0);
      const hypothesis = finalText(customer.socket.messages);
      const wer = corpusWer([{ reference: recordings.map((r) => r.reference).join(" "), hypothesis }]);
      console.log(
        `fuzz seed ${SEED}: ${total} frames (${KINDS.map((k) => `${k} ${sent[k]}`).join(", ")}) on ${opened.reduce((a, b) => a + b, 0)} sockets, ${refusals.length} sessions refused (503: speech capacity); ` +
          `node RSS ${before.toFixed(0)} MB before, ${after.toFixed(0)} MB after; ${node.logLines() - logsBefore} log lines; ` +
          `customer WER ${wer.toFixed(3)} (bar ${werBar.toFixed(3)}, offline ${offlineWer.toFixed(3)}): "${hypothesis}"`,
      );
      expect(total).toBeGreaterThanOrEqual(10_000);
      for (const kind of KINDS.filter((k) => k !== "cut-off")) expect(sent[kind]).toBeGreaterThan(0);
      // Up, ready and bounded.
      expect(node.child.exitCode).toBeNull();
      expect((await fetch(`${node.url}/health`)).status).toBe(200);
      expect((await fetch(`${node.internalUrl}/ready`)).status).toBe(200);
      expect(after - before).toBeLessThan(64);
      // The real customer was not disturbed.
      expect(customer.socket.closed).toBeUndefined();
      expect(wer).toBeLessThanOrEqual(werBar);
      // Logs did not grow with the flood (warnings that echo input share a budget).
      expect(node.logLines() - logsBefore).toBeLessThan(total / 4);
    } finally {
      await customer.close();
    }
  }, 300_000);
});
