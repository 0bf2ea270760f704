// A node that stops at once under a live conversation (a second SIGTERM, or
// the drain timeout passed: ParleyServer.close → SessionRegistry.closeAll):
// the conversation still ends with a final score of what was transcribed,
// the customer's open partial included, without waiting for the speech
// worker; records store it and decide the reward from it, as for any end.
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { EndReason, type LiveEnvelope, type TranscriptSegment } from "@parley/proto/live";
import type { ServerMessage } from "@parley/proto/ws";
import { createDatabaseAt } from "@parley/records/testing";
import postgres from "postgres";
import { afterAll, describe, expect, inject, it } from "vitest";
import { liveTopic } from "../src/live/LiveBus.ts";
import { startServer } from "./harness.ts";

const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const transcript = (m: ServerMessage): TranscriptSegment | undefined =>
  m.kind.case === "event" && m.kind.value.kind.case === "transcript" ? m.kind.value.kind.value : undefined;

describe("a node that stops at once", () => {
  it("ends a live conversation with a final score of what was said, and records decide its reward", async () => {
    const databaseUrl = await createDatabaseAt(inject("parleyPostgresUrl"));
    const server = await startServer({ DATABASE_URL: databaseUrl });
    cleanups.push(() => server.close());
    const events: LiveEnvelope[] = [];
    cleanups.push(server.bus.subscribe(liveTopic.admin, (message) => events.push(message.envelope)));
    const customer = await WeriftCustomer.connect(server);
    cleanups.push(() => customer.close());
    const sessionId = customer.sessionId;

    const [recording] = librivoxRecordings().sort((a, b) => b.seconds - a.seconds);
    const speech = opusPacketsFromFile(recording!.wav, 0.5);
    const silence = Array.from({ length: 50 }, () => speech[0]!);
    // A first sentence and a pause: the recogniser closes an utterance (a final)…
    await customer.play([...speech.slice(0, 150), ...silence]);
    const first = await customer.socket.waitFor((m) => transcript(m)?.isFinal === true, 20_000);
    const firstId = transcript(first)!.segmentId;
    // …then the customer goes on, and the node stops while they talk (their words still a partial).
    const talking = customer.play(speech.slice(150, 500)).catch(() => {});
    await customer.socket.waitFor((m) => {
      const t = transcript(m);
      return t !== undefined && !t.isFinal && t.segmentId > firstId && t.text.length > 0;
    }, 20_000);

    const stoppedAt = performance.now();
    await server.close();
    const stopMs = performance.now() - stoppedAt;
    await talking;

    const ours = events.filter((e) => e.sessionId === sessionId);
    const ends = ours.flatMap((e) => (e.event?.kind.case === "conversationEnded" ? [e.event.kind.value] : []));
    expect(ends).toHaveLength(1);
    const ended = ends[0]!;
    expect(ended.reason).toBe(EndReason.SHUTDOWN);
    // The end carries a final score: the built-in rubric's, through the last thing said.
    expect(ended.finalScore).toBeDefined();
    expect(ended.finalScore!.isFinal).toBe(true);
    expect(ended.finalScore!.engine).toBe("builtin");
    expect(ended.summary.length).toBeGreaterThan(0);
    const segments = ours.flatMap((e) => (e.event?.kind.case === "transcript" ? [e.event.kind.value] : []));
    const said = new Set(segments.filter((s) => s.text).map((s) => s.segmentId));
    const finals = new Set(segments.filter((s) => s.isFinal).map((s) => s.segmentId));
    // Nothing said is lost: the words still a partial when the node stopped stand as final.
    expect([...said].filter((id) => !finals.has(id))).toEqual([]);
    expect(ended.finalScore!.throughSegmentId).toBe(Math.max(...said));
    console.log(
      `stopped in ${Math.round(stopMs)} ms; final score ${ended.finalScore!.score} through segment ${ended.finalScore!.throughSegmentId}: ${ended.summary}`,
    );

    // Records stored the final score and decided the reward from it (not "no_score").
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    cleanups.push(() => sql.end());
    const [final] = await sql<{ score: number }[]>`select score from final_scores where session_id = ${sessionId}`;
    expect(final?.score).toBe(ended.finalScore!.score);
    const [reward] = await sql<{ reason: string }[]>`select reason from rewards where session_id = ${sessionId}`;
    expect(reward).toBeDefined();
    expect(reward!.reason).not.toBe("no_score");
  }, 180_000);
});
