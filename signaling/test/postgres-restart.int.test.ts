// Fault: Postgres restarts in the middle of a conversation on a real node
// (its own PostgreSQL 15 cluster, stopped and started for real; the
// customer is a WebRTC peer speaking a recording to the real speech worker).
// The node does not crash, keeps creating sessions (records caches known
// stores and queues the rows), and once Postgres is back every final segment
// of the conversation, its end and its reward decision are in the database.
import {
  createSession,
  DashboardClient,
  librivoxRecordings,
  opusPacketsFromFile,
  WeriftCustomer,
} from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/errors";
import { PostgresCluster } from "@parley/records/testing";
import pino from "pino";
import postgres from "postgres";
import { register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveTopic } from "../src/live/LiveBus.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { startServer, TestSocket } from "./harness.ts";

let pg: PostgresCluster;
let node: ParleyServer;
let databaseUrl: string;
const closers: (() => unknown)[] = [];
/** The node's warnings and errors, as JSON lines. */
const logged: { msg: string }[] = [];
beforeAll(async () => {
  pg = await PostgresCluster.start({ settings: { fsync: "off", synchronous_commit: "off" } });
  databaseUrl = await pg.createDatabase("parley_fault");
  const logger = pino({ level: "warn" }, { write: (line: string) => logged.push(JSON.parse(line) as { msg: string }) });
  node = await startServer({ DATABASE_URL: databaseUrl }, undefined, logger);
});
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  await node?.close();
  await pg?.destroy();
});

const recordings = librivoxRecordings().sort((a, b) => b.seconds - a.seconds);
const silence = (frames: number, packets: Buffer[]) => Array.from({ length: frames }, () => packets[0]!);
const counter = async (name: string) =>
  (await register.getSingleMetric(name)?.get())?.values.reduce((sum, v) => sum + v.value, 0) ?? 0;

async function ownerToken(): Promise<string> {
  const res = await fetch(`${node.url}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(node.records.demo!.owner),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

/** Rows as Postgres has them, through a connection of the test's own. */
async function query<T extends object>(text: string, ...params: string[]): Promise<T[]> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    return (await sql.unsafe(text, params)) as unknown as T[];
  } finally {
    await sql.end({ timeout: 5 });
  }
}

describe("Postgres restarted mid-conversation", () => {
  it("no crash, every final lands after it returns, and sessions are created throughout", async () => {
    const customer = await WeriftCustomer.connect(node);
    closers.push(() => customer.close());
    const sessionId = customer.sessionId;
    const finals = new Map<number, string>();
    closers.push(
      node.bus.subscribe(liveTopic.session(sessionId), ({ event }) => {
        if (event?.kind.case === "transcript" && event.kind.value.isFinal)
          finals.set(event.kind.value.segmentId, event.kind.value.text);
      }),
    );
    const first = opusPacketsFromFile(recordings[0]!.wav, 0.3);
    const second = opusPacketsFromFile(recordings[1]!.wav, 0.3);

    // Speech with Postgres up; the session row and the first finals are written.
    await customer.play([...first, ...silence(50, first)]);
    await expect.poll(() => finals.size, { timeout: 10_000 }).toBeGreaterThan(0);
    const finalsBefore = finals.size;
    const retriesBefore = await counter("records_write_retries_total");
    // The business's dashboard is signed in before the outage (signing in needs the database).
    const { client: wall } = await DashboardClient.subscribed(node, await ownerToken());
    closers.push(() => wall.close());

    await pg.stop();
    // Speech while Postgres is down: its finals can only wait in records' queue.
    await customer.play([...second, ...silence(50, second)]);
    await expect.poll(() => finals.size, { timeout: 10_000 }).toBeGreaterThan(finalsBefore);
    // A new customer is still served: the store is known, the session row waits in the queue.
    const during = await createSession(node);
    // A store the node has not seen yet cannot be looked up: refused as unavailable, and the node says why.
    const unknown = await fetch(`${node.url}/api/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ storeCode: "never-seen", consent: { given: true, version: "test-1" } }),
    });
    expect(unknown.status).toBe(503);
    expect(logged.map((l) => l.msg)).toContain("session refused: store lookup failed");
    // The wall's requests that need the database are refused as unavailable, to be retried; the socket stays.
    const history = await wall.request({ case: "getTiles", value: {} }, 20_000);
    if (history.case !== "error") throw new Error(`got ${history.case} with Postgres down`);
    expect(history.value).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true });
    expect(wall.closed).toBeUndefined();
    // The conversation ends normally for the customer.
    expect((await customer.socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    await expect.poll(() => counter("records_write_retries_total"), { timeout: 10_000 }).toBeGreaterThan(retriesBefore);
    expect((await fetch(`${node.url}/health`)).status).toBe(200);

    await pg.start();
    expect(await node.records.flush(30_000)).toBe(true);

    // Every final the customer saw is stored, once, with its text.
    const stored = await query<{ segment_id: number; text: string }>(
      "select segment_id, text from transcript_segments where session_id = $1 order by segment_id",
      sessionId,
    );
    expect(stored.map((r) => [r.segment_id, r.text])).toEqual([...finals.entries()].sort(([a], [b]) => a - b));
    const [session] = await query<{ status: string }>("select status from sessions where id = $1", sessionId);
    expect(session?.status).toBe("ended");
    // Its reward was decided once the end was written (the decision needs the database).
    await expect
      .poll(async () => (await query("select 1 from rewards where session_id = $1", sessionId)).length, {
        timeout: 15_000,
      })
      .toBe(1);
    // The session created during the outage was written too.
    expect(await query("select 1 from sessions where id = $1", during.sessionId)).toHaveLength(1);

    // After Postgres returns, the node takes new sessions as before.
    const { token, sessionId: after } = await createSession(node);
    const socket = await TestSocket.open(node);
    closers.push(async () => socket.close());
    expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    expect(await node.records.flush(10_000)).toBe(true);
    const [row] = await query<{ status: string }>("select status from sessions where id = $1", after);
    expect(row?.status).toBe("ended");
    expect((await fetch(`${node.internalUrl}/ready`)).status).toBe(200);
    // Answered as soon as asked, by whichever connection of the pool: none waits out a reconnect
    // delay grown during the outage (postgres.js's default reached 20 s; the wall's tiles took 11–16 s).
    expect((await wall.request({ case: "getTiles", value: {} }, 8_000)).case).toBe("tiles");
    console.log(
      `Postgres restart: ${finals.size} finals (${finals.size - finalsBefore} while it was down) all stored; ` +
        `${(await counter("records_write_retries_total")) - retriesBefore} batch retries`,
    );
  }, 90_000);
});
