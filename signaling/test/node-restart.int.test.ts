// A node restarts mid-conversation (killed, as a crash would): the customer
// joins again with its token, the new process takes the conversation up
// from its records (the transcript so far, the same segment ids), and the
// conversation goes on to its end, with no final segment lost or doubled.
import type { ChildProcess } from "node:child_process";
import { AsrWorkerProcess, freePort } from "@parley/inference-bridge";
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import type { TranscriptSegment } from "@parley/proto/live";
import type { ServerMessage } from "@parley/proto/ws";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { startNodeProcess } from "./node-process.ts";

let asr: AsrWorkerProcess;
let databaseUrl: string;
let port: number;
let node: ChildProcess | undefined;

const startNode = () => startNodeProcess({ port, databaseUrl, asrAddress: asr.address });

beforeAll(async () => {
  asr = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), workerId: "restart" });
  databaseUrl = await createDatabaseAt(inject("parleyPostgresUrl"));
  port = await freePort();
}, 60_000);
afterAll(async () => {
  node?.kill("SIGKILL");
  await asr?.stop();
});

const transcripts = (messages: ServerMessage[]): TranscriptSegment[] =>
  messages.flatMap((m) =>
    m.kind.case === "event" && m.kind.value.kind.case === "transcript" ? [m.kind.value.kind.value] : [],
  );

describe("a node that restarts mid-conversation", () => {
  it("takes the conversation up again from its records when the customer joins again", async () => {
    const [recording] = librivoxRecordings().sort((a, b) => b.seconds - a.seconds);
    const speech = opusPacketsFromFile(recording!.wav, 0.5);
    const silence = Array.from({ length: 50 }, () => speech[0]!);
    node = await startNode();
    const endpoint = { url: `http://127.0.0.1:${port}` };
    const customer = await WeriftCustomer.connect(endpoint);
    const sessionId = customer.sessionId;

    // The first sentence, then a pause: the recogniser closes an utterance (a final).
    await customer.play([...speech.slice(0, 150), ...silence]);
    await customer.socket.waitFor(
      (m) => m.kind.case === "event" && m.kind.value.kind.case === "transcript" && m.kind.value.kind.value.isFinal,
      20_000,
    );
    const before = transcripts(customer.socket.messages).filter((t) => t.isFinal);
    // What a crash may take is what the records queue had not written yet: kill once it has.
    const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
    const stored = async () =>
      (await sql<{ segment_id: number }[]>`select segment_id from transcript_segments where session_id = ${sessionId}`)
        .length;
    await expect.poll(stored, { timeout: 15_000 }).toBeGreaterThanOrEqual(before.length);
    node.kill("SIGKILL"); // a crash: no goodbye, no end of the conversation
    await new Promise((r) => node!.once("exit", r));
    await customer.socket.waitClosed(10_000).catch(() => undefined);

    node = await startNode();
    await customer.rejoin();
    // The transcript so far came back, with the same segment ids.
    const restored = await customer.socket.waitFor(
      (m) => m.kind.case === "event" && m.kind.value.kind.case === "transcript",
      10_000,
    );
    expect(restored).toBeDefined();
    for (const segment of before) {
      const again = transcripts(customer.socket.messages).find((t) => t.segmentId === segment.segmentId);
      expect(again?.text).toBe(segment.text);
    }
    await customer.play([...speech.slice(150), ...silence]);
    const ended = await customer.socket.request({ case: "endSession", value: {} });
    expect(ended.case).toBe("sessionEnded");

    // One conversation in the database: every final once, ids continuing after the restart, one end.
    try {
      await expect
        .poll(async () => (await sql`select status from sessions where id = ${sessionId}`)[0]?.status, {
          timeout: 10_000,
        })
        .toBe("ended");
      const rows = await sql<{ segment_id: number; text: string }[]>`
        select segment_id, text from transcript_segments where session_id = ${sessionId} order by segment_id`;
      const lastBefore = Math.max(...before.map((s) => s.segmentId));
      expect(rows.filter((r) => r.segment_id <= lastBefore).map((r) => r.text)).toEqual(before.map((s) => s.text));
      expect(rows.some((r) => r.segment_id > lastBefore)).toBe(true);
      console.log(`across a node restart: ${rows.map((r) => `#${r.segment_id} ${r.text}`).join(" | ")}`);
    } finally {
      await sql.end({ timeout: 5 });
      await customer.close();
    }
  }, 120_000);
});
