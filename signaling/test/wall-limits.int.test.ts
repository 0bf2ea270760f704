// A dashboard's limits on a real node and real sockets: a burst of requests
// beyond the rate is refused request by request while the socket stays open,
// and a token that expires while connected closes its socket.
import { create, toBinary } from "@bufbuild/protobuf";
import { DashboardClient } from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/errors";
import { ClientMessageSchema, type Response } from "@parley/proto/wall";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { REFUSALS_BEFORE_CLOSE, REQUEST_BURST, REQUESTS_PER_SECOND, WallCloseCode } from "../src/wall/WallClient.ts";
import { demoBusiness, startServer } from "./harness.ts";

let server: ParleyServer;
const clients: DashboardClient[] = [];

beforeAll(async () => {
  server = await startServer();
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
});

const token = (ttlMs: number) =>
  server.dashboardTokens.issue({ userId: "owner", role: "owner", businessId: demoBusiness(server) }, ttlMs);

async function dashboard(t: string): Promise<DashboardClient> {
  const { client } = await DashboardClient.subscribed(server, t);
  clients.push(client);
  return client;
}

describe("a dashboard's limits", () => {
  it("refuses the excess of a burst clearly, answers the rest, and stays open", async () => {
    const client = await dashboard(token(600_000));
    const BURST = REQUEST_BURST * 4;
    const ids = Array.from({ length: BURST }, (_, i) => 1_000 + i);
    const started = performance.now();
    for (const requestId of ids)
      client.ws.send(
        toBinary(
          ClientMessageSchema,
          create(ClientMessageSchema, { requestId, kind: { case: "getTiles", value: {} } }),
        ),
      );
    const answers = new Map<number, Response[]>();
    for (const id of ids) {
      await client.waitFor((m) => m.kind.case === "response" && m.kind.value.requestId === id, 20_000);
      answers.set(
        id,
        client.messages.flatMap((m) =>
          m.kind.case === "response" && m.kind.value.requestId === id ? [m.kind.value] : [],
        ),
      );
    }
    const elapsedS = (performance.now() - started) / 1000;

    // Each request got exactly one answer: tiles, or a refusal that says when to try again.
    for (const id of ids) expect(answers.get(id)).toHaveLength(1);
    const results = ids.map((id) => answers.get(id)![0]!.result);
    const answered = results.filter((r) => r.case === "tiles");
    const refused = results.flatMap((r) => (r.case === "error" ? [r.value] : []));
    expect(answered.length + refused.length).toBe(BURST);
    for (const e of refused) expect(e).toMatchObject({ code: ErrorCode.RATE_LIMITED, retryable: true });
    for (const e of refused) expect(e.retryAfterMs).toBeGreaterThan(0);
    expect(answered.length).toBeGreaterThan(0);
    // No more than the burst and what the rate refilled while the burst came in (however slow the machine).
    expect(answered.length).toBeLessThanOrEqual(REQUEST_BURST + Math.ceil(REQUESTS_PER_SECOND * elapsedS));
    expect(refused.length).toBeGreaterThan(0);

    // The socket stayed open: after the hint, requests are answered again.
    await new Promise((r) => setTimeout(r, Math.max(...refused.map((e) => e.retryAfterMs))));
    expect((await client.request({ case: "getTiles", value: {} })).case).toBe("tiles");
    expect(client.closed).toBeUndefined();
  }, 60_000);

  it("closes a socket that opens with garbage instead of a hello, after saying why", async () => {
    const stranger = await DashboardClient.open(server);
    clients.push(stranger);
    stranger.ws.send(Buffer.from([0xff, 0xff, 0xff, 0x0f]));
    // A valid hello right after comes too late: the garbage already closed the socket.
    stranger.ws.send(
      toBinary(
        ClientMessageSchema,
        create(ClientMessageSchema, { requestId: 7, kind: { case: "hello", value: { token: token(600_000) } } }),
      ),
    );
    const closed = await stranger.waitClosed(20_000);
    expect(closed.code).toBe(WallCloseCode.UNAUTHENTICATED);
    expect(stranger.messages.some((m) => m.kind.case === "response" && m.kind.value.result.case === "welcome")).toBe(
      false,
    );
    const answer = stranger.messages.find((m) => m.kind.case === "response");
    expect(answer?.kind.case === "response" && answer.kind.value.result).toMatchObject({
      case: "error",
      value: { code: ErrorCode.BAD_FRAME },
    });
  });

  it("closes a dashboard that floods on past its refusals, having answered a bounded number of frames", async () => {
    const flooder = await dashboard(token(600_000));
    const before = flooder.messages.length;
    const FRAMES = 2_000;
    for (let i = 0; i < FRAMES && !flooder.closed; i++) flooder.ws.send(Buffer.from([0xff, 0xff, 0xff, 0x0f]));
    const closed = await flooder.waitClosed(30_000);
    expect(closed.code).toBe(WallCloseCode.RATE_LIMITED);
    // The burst's frames and the run of refusals, not one answer per frame (what the rate refilled meanwhile aside).
    const answers = flooder.messages.slice(before).filter((m) => m.kind.case === "response").length;
    expect(answers).toBeLessThan(FRAMES / 2);
    expect(answers).toBeGreaterThanOrEqual(REFUSALS_BEFORE_CLOSE - 1);
  }, 60_000);

  it("closes a dashboard whose token expires while connected, and keeps one whose token is valid", async () => {
    // Tokens expire on whole seconds: this one in 7 to 8 s, time enough to say hello on a busy machine.
    const expiring = await dashboard(token(8_000));
    const valid = await dashboard(token(600_000));
    const closed = await expiring.waitClosed(30_000);
    expect(closed.code).toBe(WallCloseCode.UNAUTHENTICATED);
    expect(closed.reason).toContain("expired");
    // The valid one was checked in the same round, and stays.
    expect((await valid.request({ case: "getTiles", value: {} })).case).toBe("tiles");
    expect(valid.closed).toBeUndefined();
  }, 60_000);
});
