// A conversation whose socket drops waits WS_REJOIN_GRACE_MS for the
// customer to come back, each time anew: the wait of an earlier drop must
// not end it after a later rejoin. What the old socket still had under way
// must not get in the way of the new one.
import { TransportDirection } from "@parley/proto/ws";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
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

type Router = NonNullable<ReturnType<ParleyServer["mediaPool"]["acquireRouter"]>>["router"];
type WebRtcTransport = Awaited<ReturnType<Router["createWebRtcTransport"]>>;

describe("a request of the old socket still under way at the rejoin", () => {
  /**
   * Holds the next WebRTC transport the node makes until `finish` is called; `made` resolves with
   * it once mediasoup made it.
   */
  function holdNextTransport() {
    const lease = server.mediaPool.acquireRouter();
    if (!lease) throw new Error("no router");
    const routers = Object.getPrototypeOf(lease.router) as Router;
    lease.release();
    const create = routers.createWebRtcTransport;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => {
      finish = resolve;
    });
    let started!: () => void;
    const held = new Promise<void>((resolve) => {
      started = resolve;
    });
    let made!: (transport: WebRtcTransport) => void;
    const madeTransport = new Promise<WebRtcTransport>((resolve) => {
      made = resolve;
    });
    const spy = vi.spyOn(routers, "createWebRtcTransport").mockImplementationOnce(async function (
      this: Router,
      ...args: Parameters<Router["createWebRtcTransport"]>
    ) {
      started();
      await finished;
      const transport = await create.apply(this, args);
      made(transport);
      return transport;
    });
    return { held, finish, made: madeTransport, restore: () => spy.mockRestore() };
  }

  for (const lost of ["dropped", "taken over"] as const)
    it(`leaves nothing of it on the session's media: the new socket sets its transports up (${lost})`, async () => {
      const { token, sessionId } = await createSession(server);
      const old = await join(token);
      const session = server.sessions.get(sessionId)!;
      const transport = holdNextTransport();
      try {
        const oldRequest = old
          .request({ case: "createTransport", value: { direction: TransportDirection.SEND } })
          .catch(() => "no answer");
        await transport.held;
        if (lost === "dropped") await drop(old, session);
        // With no transport made yet, the rejoin keeps the media as it is.
        const again = await join(token);
        transport.finish();
        const late = await transport.made;
        await expect.poll(() => late.closed).toBe(true);
        expect(session.media!.transportCount).toBe(0);
        const answer = await oldRequest;
        if (answer !== "no answer") expect(answer).toMatchObject({ case: "error" });
        const created = await again.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
        expect(created.case).toBe("transportCreated");
        expect(session.media!.transportCount).toBe(1);
        again.close();
        await expect.poll(() => session.ended).toBe(true);
      } finally {
        transport.restore();
      }
    });
});
