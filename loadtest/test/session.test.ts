// A load session against a stand-in node and customer: what it does when the
// node moves its media, and how it reads the node's messages.
import type { ServerMessage } from "@parley/proto/ws";
import { ErrorCode } from "@parley/proto/ws";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ProtocolClient } from "../src/ProtocolClient.ts";
import { buildReport } from "../src/report/report.ts";
import { type Activity, LoadSession } from "../src/run/LoadSession.ts";
import { Pacer } from "../src/run/Pacer.ts";
import { IceTimeout, JoinFailed } from "../src/WeriftCustomer.ts";
import { FakeCustomer, FakeNode, syntheticRecording } from "./fakeNode.ts";
import { syntheticOptions, syntheticOutcome } from "./syntheticRun.ts";

let node: FakeNode;
let pacer: Pacer;
beforeEach(async () => {
  node = await FakeNode.start();
  pacer = new Pacer();
});
afterEach(async () => {
  pacer.stop();
  await node.stop();
});

const RECORDING_PACKETS = 100; // 2 s
const TAIL_PACKETS = 2; // 40 ms of silence after it, sent as packets (no DTX)

function session(made: (c: FakeCustomer) => void, activity: Activity[] = []): LoadSession {
  return new LoadSession({
    slot: 0,
    connect: FakeCustomer.connector(node, made),
    recording: syntheticRecording(RECORDING_PACKETS),
    loop: false,
    pacer,
    runStartMs: performance.now(),
    silence: Buffer.from([0xf8, 0xff, 0xfe]),
    tailSilenceMs: TAIL_PACKETS * 20,
    dtx: false,
    endTimeoutMs: 5_000,
    onActivity: (what) => activity.push(what),
  });
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

const mediaReset = { case: "mediaReset", value: { sessionId: "fake-1", reason: "media worker died" } } as const;

describe("a load session whose media the node moves", () => {
  it("sets its media up again, sends nothing meanwhile, and counts the reset; a reset during the setup means once more", async () => {
    let customer: FakeCustomer | undefined;
    const activity: Activity[] = [];
    const running = session((c) => {
      customer = c;
    }, activity).run();
    await expect.poll(() => customer?.sends.length ?? 0).toBeGreaterThanOrEqual(10);
    const c = customer!;
    c.report({ packetsLost: 3 });
    const setups = [deferred(), deferred()];
    const [first, second] = setups as [ReturnType<typeof deferred>, ReturnType<typeof deferred>];
    c.reconnect = () => setups.shift()!.promise;

    node.event(mediaReset);
    await expect.poll(() => c.reconnectCalls).toBe(1);
    // Moved again while the first setup is under way: once more after it, not two at once.
    node.event(mediaReset);
    await expect.poll(() => activity.filter((a) => a === "mediaReset").length).toBe(2);
    expect(c.reconnectCalls).toBe(1);
    first.resolve();
    await expect.poll(() => c.reconnectCalls).toBe(2);
    const sentDuringSetup = c.sends.length;
    second.resolve();
    await expect.poll(() => c.sends.length).toBeGreaterThan(sentDuringSetup);

    // Receiver reports now come from the new media only; what the old one counted lost stays counted.
    expect(c.reportListeners).toBe(1);
    c.report({ packetsLost: 2 });
    // The conversation goes on: its events still count.
    node.event({ case: "transcript", value: { segmentId: 1, text: "still heard", isFinal: false, endMs: 600 } });
    const result = await running;

    expect(result.mediaResets).toBe(2);
    expect(result.outcome).toBe("completed");
    expect(result.errors).toEqual([]);
    expect(result.partials).toBe(1);
    // The node's audio clock moved apart from ours in the move: no latency is matched to it.
    expect(result.partialLag).toEqual([]);
    // Nothing went into a transport being set up; every packet went out once, after it.
    expect(c.sends.some((s) => s.duringReconnect)).toBe(false);
    expect(c.sends.length).toBe(RECORDING_PACKETS + TAIL_PACKETS);
    expect(result.packets.sent).toBe(RECORDING_PACKETS + TAIL_PACKETS);
    expect(result.packets.lost).toBe(5);
    expect(c.reportListeners).toBe(0);
    // The session read and forgot every message: a long session keeps none of them.
    expect(c.socket.messages).toEqual([]);
    expect(node.requests.map((r) => r.case)).toContain("endSession");
  });

  it.each([
    { before: "after a receiver report", reportFirst: true },
    { before: "before any receiver report", reportFirst: false },
  ])(
    "counts the packets sent into the lost media $before as unconfirmed, not as received, and the loss share without them",
    async ({ reportFirst }) => {
      let customer: FakeCustomer | undefined;
      const running = session((c) => {
        customer = c;
      }).run();
      await expect.poll(() => customer?.packetsSent ?? 0).toBeGreaterThanOrEqual(10);
      const c = customer!;
      // The report covers the packets sent so far (their sequence numbers wrap soon after).
      let covered = 0;
      if (reportFirst) {
        c.report({ packetsLost: 3 });
        covered = c.packetsSent;
      }
      // The media's worker dies after its last report: what was sent since went into it unconfirmed.
      await expect.poll(() => c.packetsSent).toBeGreaterThanOrEqual(covered + 20);
      const setup = deferred();
      c.reconnect = () => setup.promise;
      node.event(mediaReset);
      await expect.poll(() => c.reconnectCalls).toBe(1);
      const sentIntoLost = c.packetsSent;
      expect(c.nextSequence).toBeLessThan(0xfff0); // the sequence numbers wrapped meanwhile
      setup.resolve();
      await expect.poll(() => c.packetsSent).toBeGreaterThan(sentIntoLost);
      c.report({ packetsLost: 2 });
      const result = await running;

      expect(result.packets.sent).toBe(RECORDING_PACKETS + TAIL_PACKETS);
      expect(result.packets.lost).toBe(reportFirst ? 5 : 2);
      expect(result.packets.unconfirmed).toBe(sentIntoLost - covered);
      expect(result.packets.unconfirmed).toBeGreaterThanOrEqual(20);

      const report = buildReport(
        syntheticOptions(1),
        [],
        syntheticOutcome([result], 5, () => 10),
      );
      expect(report.totals).toMatchObject({
        packetsSent: RECORDING_PACKETS + TAIL_PACKETS,
        packetsLost: result.packets.lost,
        packetsUnconfirmed: result.packets.unconfirmed,
        packetLoss: result.packets.lost! / (RECORDING_PACKETS + TAIL_PACKETS - result.packets.unconfirmed),
      });
    },
  );

  it.each([
    {
      failure: new JoinFailed("produce", { code: ErrorCode.UNAVAILABLE, message: "no media worker" }),
      stage: "signal",
      kind: "UNAVAILABLE",
    },
    { failure: new IceTimeout(), stage: "ice_dtls", kind: "timeout" },
  ])(
    "records a media setup that fails at $stage as an error of its stage and kind, and ends the session",
    async ({ failure, stage, kind }) => {
      let customer: FakeCustomer | undefined;
      const running = session((c) => {
        customer = c;
        c.reconnect = () => Promise.reject(failure);
      }).run();
      await expect.poll(() => customer?.sends.length ?? 0).toBeGreaterThanOrEqual(5);
      node.event(mediaReset);
      const result = await running;
      expect(result.mediaResets).toBe(1);
      expect(result.outcome).toBe("failed");
      expect(result.errors).toEqual([
        expect.objectContaining({ stage, kind, message: expect.stringMatching(/^setting media up again: /) }),
      ]);
      // Nothing more was sent, and the node was still asked to end the session.
      expect(result.packets.sent).toBeLessThan(RECORDING_PACKETS);
      expect(node.requests.map((r) => r.case)).toContain("endSession");
    },
  );
});

describe("the protocol client", () => {
  it("forgets what a reader took, still answers a request whose response that reader took first, and keeps all for a reader that takes none", async () => {
    const socket = await ProtocolClient.open({ url: node.url });
    const keeper = await ProtocolClient.open({ url: node.url }); // as the tests that read messages afterwards
    const taken: ServerMessage[] = [];
    socket.ws.on("message", () => taken.push(...socket.take().map((a) => a.message)));
    for (let i = 0; i < 200; i++) node.event({ case: "score", value: { score: i } });
    const ended = await socket.request({ case: "endSession", value: {} });
    expect(ended.case).toBe("sessionEnded");
    expect(taken).toHaveLength(201);
    expect(socket.messages).toEqual([]);
    expect(socket.arrivals).toEqual([]);
    await keeper.request({ case: "endSession", value: {} });
    expect(keeper.messages).toHaveLength(201);
    expect(keeper.arrivals).toHaveLength(201);
    socket.close();
    keeper.close();
  });
});
