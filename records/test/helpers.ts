// Shared by the records tests: a real Postgres 15 cluster per test file, a
// fresh database per test, and live envelopes as the node's bus makes them.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { EndReason, type LiveEnvelope, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema } from "@parley/proto/live";
import pino from "pino";
import { Records, type RecordsOptions } from "../src/index.ts";
import { PostgresCluster } from "../src/testing/index.ts";

export const silentLogger = pino({ level: process.env.RECORDS_TEST_LOG ?? "silent" });

export async function startCluster(): Promise<PostgresCluster> {
  // fsync off: tests restart the server cleanly, they never crash the machine.
  return PostgresCluster.start({ settings: { fsync: "off", synchronous_commit: "off", full_page_writes: "off" } });
}

export const SECRET = "test-secret-that-is-at-least-32-characters";

export async function openRecords(url: string, options: Partial<RecordsOptions> = {}): Promise<Records> {
  return Records.create({
    databaseUrl: url,
    dataDir: "/nonexistent",
    nodeId: "test-node",
    logger: silentLogger,
    authSecret: SECRET,
    seedDemo: true,
    sweepIntervalMs: 0,
    retention: { intervalMs: 0 },
    writer: { flushIntervalMs: 5, retry: { initialMs: 20, maxMs: 200 } },
    ...options,
  });
}

type EventKind = LiveEvent["kind"];

/** Builds one session's envelopes with the per-session seq the bus assigns. */
export class Conversation {
  readonly sessionId = randomUUID();
  seq = 0n;
  constructor(
    readonly storeCode = "demo",
    readonly businessId = "",
  ) {}

  envelope(kind: EventKind, publishedAtMs = Date.now()): LiveEnvelope {
    return create(LiveEnvelopeSchema, {
      sessionId: this.sessionId,
      storeCode: this.storeCode,
      businessId: this.businessId,
      seq: ++this.seq,
      nodeId: "test-node",
      publishedAtMs: BigInt(publishedAtMs),
      event: create(LiveEventSchema, { kind }),
    });
  }

  /** Published where the conversation starts, and again on the node that resumes it. */
  started(startedAtMs = Date.now(), nodeId = "test-node"): LiveEnvelope {
    return this.envelope({
      case: "sessionStarted",
      value: {
        sessionId: this.sessionId,
        storeCode: this.storeCode,
        language: "en-US",
        startedAtMs: BigInt(startedAtMs),
        nodeId,
      },
    } as EventKind);
  }

  segment(segmentId: number, text: string, isFinal = true): LiveEnvelope {
    const words = text
      .split(" ")
      .map((w, i) => ({ text: w, startMs: segmentId * 5000 + i * 300, endMs: segmentId * 5000 + i * 300 + 250 }));
    return this.envelope({
      case: "transcript",
      value: {
        sessionId: this.sessionId,
        segmentId,
        isFinal,
        speechFinal: isFinal,
        text,
        words,
        startMs: segmentId * 5000,
        endMs: segmentId * 5000 + 4000,
        stability: 1,
      },
    } as EventKind);
  }

  score(score: number, relevance = 0.9): LiveEnvelope {
    return this.envelope({
      case: "score",
      value: {
        sessionId: this.sessionId,
        score,
        specificity: 0.5,
        actionability: 0.5,
        sentiment: 0.2,
        relevance,
        topics: ["service"],
        hint: "say more",
        engine: "builtin",
        throughSegmentId: 1,
      },
    } as EventKind);
  }

  question(turn: number, text: string): LiveEnvelope {
    return this.envelope({
      case: "aiTurn",
      value: { sessionId: this.sessionId, turn, text, aimedAt: "specificity" },
    } as EventKind);
  }

  ended(score: number, relevance = 0.9, reason = EndReason.CUSTOMER): LiveEnvelope {
    return this.envelope({
      case: "conversationEnded",
      value: {
        sessionId: this.sessionId,
        finalScore: {
          sessionId: this.sessionId,
          score,
          specificity: 0.6,
          actionability: 0.5,
          sentiment: 0.3,
          relevance,
          topics: ["service", "waiting_time"],
          hint: "",
          engine: "builtin",
          isFinal: true,
          throughSegmentId: 3,
        },
        summary: "Customer talked about the service.",
        reason,
        rewardMinor: 0,
        currency: "",
      },
    } as EventKind);
  }
}

export const GOOD_FEEDBACK = [
  "the cashier at the second till was really friendly and quick this morning",
  "but the queue for the bakery took almost fifteen minutes because only one person was working",
  "maybe put another person there on saturday mornings when it gets busy",
];

const VOCABULARY = (
  "cashier queue bakery bread coffee staff friendly slow fast clean dirty floor shelf price cheap expensive " +
  "milk cheese fruit apples bananas checkout till card receipt parking entrance door music loud quiet " +
  "manager helpful rude smile waited minutes morning evening weekend saturday busy empty fresh stale " +
  "vegetables meat fish frozen aisle signs confusing clear offer discount member app payment self " +
  "scanner broken worked bag paper plastic trolley basket light dark warm cold smell nice bad"
).split(" ");

/** Feedback text that no other call returns (distinct word 3-grams), so fraud rules see different customers. */
export function uniqueFeedback(seed: number, sentences = 3): string[] {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) % VOCABULARY.length;
  return Array.from({ length: sentences }, () => Array.from({ length: 12 }, () => VOCABULARY[next()]).join(" "));
}

/** A pino logger whose lines (JSON, level info and up) land in `lines`, typed as the test reads them. */
export function capturingLogger<Line extends { level: number; msg: string }>() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)) as Line);
      done();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

const LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox/";

/** A LibriVox recording from pocketsphinx's test data, as 16 kHz PCM (its WAV header skipped). */
export function recording(name: string): Int16Array {
  const b = fs.readFileSync(LIBRIVOX + name);
  return Int16Array.from(new Int16Array(b.buffer, b.byteOffset + 44, (b.length - 44) >> 1));
}

/** The same recording played again: later start, other gain, background noise. */
export function replayed(pcm: Int16Array, shift: number, gain: number, noise: number): Int16Array {
  let s = 7;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 0xffffffff - 0.5) * 2;
  const out = new Int16Array(pcm.length + shift);
  for (let i = 0; i < out.length; i++) {
    const v = i >= shift ? pcm[i - shift]! * gain : 0;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v + rnd() * noise)));
  }
  return out;
}
