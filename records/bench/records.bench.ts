// Benchmark (prints figures, asserts nothing): sustained records written per
// second (final segments + score updates) through the RecordWriter into a real
// PostgreSQL 15 cluster with its default durability settings (fsync on), and
// the cost of write() on the hot path (p50/p99/max, microseconds), plus the
// per-frame cost of the audio fingerprint tap.
//
//   cd records && npx tsx bench/records.bench.ts      (SESSIONS=50 SECONDS=10)
import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema, LiveEventSchema } from "@parley/proto/live";
import pino from "pino";
import { AudioFingerprinter } from "../src/audio/AudioFingerprinter.ts";
import { Records } from "../src/index.ts";
import { PostgresCluster } from "../src/testing/index.ts";

const SESSIONS = Number(process.env.SESSIONS ?? 50);
const SECONDS = Number(process.env.SECONDS ?? 10);

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

const pg = await PostgresCluster.start();
const records = await Records.create({
  databaseUrl: await pg.createDatabase(),
  dataDir: "",
  nodeId: "bench",
  logger: pino({ level: "warn" }),
  authSecret: "bench-secret-that-is-at-least-32-characters",
  seedDemo: true,
  sweepIntervalMs: 0,
  retention: { intervalMs: 0 },
});
try {
  const sessions = Array.from({ length: SESSIONS }, () => ({ id: randomUUID(), seq: 0n, segment: 0 }));
  for (const s of sessions)
    await records.beginSession({ sessionId: s.id, storeCode: "demo", consent: { given: true, version: "bench" } });
  const text = "the cashier at the second till was really friendly and quick this morning thanks";
  const words = text.split(" ").map((w, i) => ({ text: w, startMs: i * 300, endMs: i * 300 + 250 }));
  const envelope = (s: (typeof sessions)[number], score: boolean): LiveEnvelope =>
    create(LiveEnvelopeSchema, {
      sessionId: s.id,
      storeCode: "demo",
      seq: ++s.seq,
      nodeId: "bench",
      publishedAtMs: BigInt(Date.now()),
      event: create(LiveEventSchema, {
        kind: score
          ? {
              case: "score",
              value: {
                sessionId: s.id,
                score: 50,
                relevance: 0.8,
                topics: ["service"],
                hint: "more",
                engine: "builtin",
              },
            }
          : {
              case: "transcript",
              value: { sessionId: s.id, segmentId: ++s.segment, isFinal: true, text, words, startMs: 0, endMs: 4000 },
            },
      }),
    });

  // Offered load: as fast as the writer keeps up, bounded by a queue depth so the figure is the
  // sustained rate, not the speed of filling memory. Envelopes are built before write() is timed.
  const costs: number[] = [];
  const started = performance.now();
  const before = records.writer.written;
  let offered = 0;
  while (performance.now() - started < SECONDS * 1000) {
    if (records.writer.depth > 5_000) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    for (let i = 0; i < 200; i++) {
      const e = envelope(sessions[offered % SESSIONS]!, offered % 2 === 1);
      const t0 = performance.now();
      records.write(e);
      costs.push(performance.now() - t0);
      offered++;
    }
    await new Promise((r) => setImmediate(r));
  }
  await records.flush(120_000);
  const seconds = (performance.now() - started) / 1000;
  const written = records.writer.written - before;
  const [row] = await records.sql<{ segments: number; scores: number }[]>`
    select (select count(*)::int from transcript_segments) as segments, (select count(*)::int from score_updates) as scores`;
  costs.sort((a, b) => a - b);

  // The fingerprint tap: one 20 ms frame of speech-like PCM per push.
  const tap = new AudioFingerprinter(600);
  const frame = new Int16Array(320);
  const tapCosts: number[] = [];
  for (let f = 0; f < 15_000; f++) {
    for (let i = 0; i < 320; i++) frame[i] = Math.round(4000 * Math.sin((f * 320 + i) / (4 + (f % 50) / 10)));
    const t0 = performance.now();
    tap.push(frame);
    tapCosts.push(performance.now() - t0);
  }
  tapCosts.sort((a, b) => a - b);

  console.log(`PostgreSQL 15 (fsync on), ${SESSIONS} concurrent sessions, ${seconds.toFixed(1)} s`);
  console.log(`  records written: ${written} (${row!.segments} segments, ${row!.scores} score updates in the tables)`);
  console.log(`  sustained: ${Math.round(written / seconds)} records/s`);
  console.log(
    `  write() on the hot path: p50 ${(pct(costs, 0.5) * 1000).toFixed(2)} µs, p99 ${(pct(costs, 0.99) * 1000).toFixed(2)} µs, max ${(costs.at(-1)! * 1000).toFixed(1)} µs over ${costs.length} calls`,
  );
  console.log(
    `  audio tap per 20 ms frame: p50 ${(pct(tapCosts, 0.5) * 1000).toFixed(1)} µs, p99 ${(pct(tapCosts, 0.99) * 1000).toFixed(1)} µs`,
  );
} finally {
  await records.close();
  await pg.destroy();
}
