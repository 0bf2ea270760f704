// A conversation whose socket drops waits WS_REJOIN_GRACE_MS for the
// customer to come back, each time anew: the wait of an earlier drop must
// not end it after a later rejoin.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import type { Session } from "../src/session/Session.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";

const GRACE_MS = 6_000;

let server: ParleyServer;
beforeAll(async () => {
  server = await startServer({ WS_REJOIN_GRACE_MS: String(GRACE_MS) });
});
afterAll(async () => {
  await server?.close();
});

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - performance.now())));

async function join(token: string): Promise<TestSocket> {
  const socket = await TestSocket.open(server);
  expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
  return socket;
}

/** Drops the socket as the network would (no close frame); resolves once the node let go of the session. */
async function drop(socket: TestSocket, session: Session): Promise<void> {
  socket.ws.terminate();
  await expect.poll(() => session.hasOwner).toBe(false);
}

describe("rejoin grace", () => {
  it("gives each drop its full grace: an earlier drop's wait ends nothing after a rejoin", async () => {
    const { token, sessionId } = await createSession(server);
    const first = await join(token);
    const session = server.sessions.get(sessionId)!;
    await drop(first, session);
    // The first drop's grace ends by firstDropAt + GRACE_MS.
    const firstDropAt = performance.now();
    const second = await join(token);
    // The second socket drops halfway through the first drop's grace: its own grace
    // lasts until at least firstDropAt + 1.5 * GRACE_MS.
    await sleepUntil(firstDropAt + GRACE_MS / 2);
    await drop(second, session);
    // Past the first drop's grace, well within the second's: the customer comes back.
    await sleepUntil(firstDropAt + GRACE_MS + 1_000);
    expect(session.ended).toBe(false);
    const third = await join(token);
    expect(server.sessions.get(sessionId)).toBe(session);
    third.close(); // a close frame: the conversation ends now
    await expect.poll(() => session.ended).toBe(true);
  });
});
