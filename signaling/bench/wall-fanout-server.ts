// One side of the fan-out benchmark, in its own process: a server that
// delivers live events to M dashboard sockets, driven over IPC by
// wall-fanout.bench.ts.
//   uws: a real Parley node (ParleyServer): events published on its
//        live-event bus reach the dashboards through the wall hub and uWS
//        pub/sub, with every other subscriber of the bus (history, alerts,
//        moderation, metrics) running as in production.
//   uws-nowindow: the same node with WALL_FLUSH_INTERVAL_MS=0: frames go out
//        in the event-loop turn they were published in, not gathered per
//        16 ms window (what the window alone is worth).
//   ws:  the same events on the same in-process bus, each turned into the
//        same frame, sent to every socket of a `ws` WebSocketServer the way
//        ws documents broadcasting (a loop of client.send).
import { createServer } from "node:http";
import { create, toBinary } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema } from "@parley/proto/live";
import pino from "pino";
import WebSocket, { WebSocketServer } from "ws";
import { loadConfig } from "../src/config.ts";
import { liveTopic } from "../src/live/LiveBus.ts";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import { ParleyServer } from "../src/ParleyServer.ts";
import { liveFrame } from "../src/wall/frames.ts";
import { wallTopic } from "../src/wall/scope.ts";

const transport = process.argv[2] as "uws" | "uws-nowindow" | "ws";
const send = (message: unknown) => process.send!(message);

/** A partial transcript of ~80 characters: the commonest live event, of a constant size on the wire. */
const SESSION = "00000000-0000-4000-8000-000000000000";
let seq = 1n << 21n; // four-byte varint from the start: every frame has the same length
const TEXT = "the coffee was lovely but we waited far too long at the till before anyone came ";
function nextEnvelope(): LiveEnvelope {
  seq++;
  return create(LiveEnvelopeSchema, {
    sessionId: SESSION,
    storeCode: "demo",
    businessId: "demo",
    seq,
    nodeId: "bench",
    publishedAtMs: BigInt(Date.now()),
    event: {
      kind: {
        case: "transcript",
        value: { sessionId: SESSION, segmentId: 1 + Number(seq % 100n), text: TEXT, isFinal: false, startMs: 1000 },
      },
    },
  });
}

/** The WebSocket header length of a server frame of this payload length. */
const wsHeader = (n: number) => (n < 126 ? 2 : n < 65_536 ? 4 : 10);

interface Side {
  port: number;
  token: string;
  publish(envelope: LiveEnvelope): void;
  /** The most any socket has buffered in the server's user space. */
  maxBuffered(): number;
  clients(): number;
  /** Sends whatever waits in the server's own queues. */
  settle(): void;
  close(): Promise<void>;
}

async function uwsSide(flushWindow: boolean): Promise<Side> {
  const config = loadConfig({
    ...(flushWindow ? {} : { WALL_FLUSH_INTERVAL_MS: "0" }),
    ...process.env,
    HOST: "127.0.0.1",
    PORT: "0",
    MEDIASOUP_WORKERS: "1",
    // Every dashboard comes from this machine: lift the per-address socket cap of the edge.
    WS_MAX_SOCKETS_PER_IP: "100000",
    LOG_LEVEL: "warn",
  });
  const server = await ParleyServer.create({ config, logger: pino({ level: "warn" }) });
  const hub = server.wall.hub;
  return {
    port: server.port,
    token: server.dashboardTokens.issue({ userId: "bench", role: "admin" }, 3_600_000),
    publish: (e) => server.bus.publish(e),
    maxBuffered: () => {
      let max = 0;
      for (const c of hub.clientsOn([wallTopic.all])) max = Math.max(max, c.socket.bufferedAmount() + c.queuedBytes);
      return max;
    },
    // Subscribed, not merely connected.
    clients: () => [...hub.clientsOn([wallTopic.all])].length,
    settle: () => hub.flush(),
    close: () => server.close(),
  };
}

async function wsSide(): Promise<Side> {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: "/wall/ws" });
  const bus = new LocalLiveBus(pino({ level: "warn" }));
  bus.subscribe(liveTopic.admin, (message) => {
    const frame = liveFrame(message.envelopeBytes());
    for (const client of wss.clients) if (client.readyState === WebSocket.OPEN) client.send(frame, { binary: true });
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const address = http.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    token: "",
    publish: (e) => bus.publish(e),
    maxBuffered: () => {
      let max = 0;
      for (const c of wss.clients) max = Math.max(max, c.bufferedAmount);
      return max;
    },
    clients: () => wss.clients.size,
    settle: () => {},
    close: async () => {
      for (const c of wss.clients) c.terminate();
      await new Promise<void>((resolve) => wss.close(() => http.close(() => resolve())));
      bus.close();
    },
  };
}

const side = transport === "ws" ? await wsSide() : await uwsSide(transport === "uws");
const frameBytes = liveFrame(toBinary(LiveEnvelopeSchema, nextEnvelope())).byteLength;
send({ ready: true, port: side.port, token: side.token, wireBytes: frameBytes + wsHeader(frameBytes) });

process.on("message", async (message: { cmd: string; seconds?: number; batch?: number; highWater?: number }) => {
  if (message.cmd === "clients") send({ clients: side.clients() });
  if (message.cmd === "run") {
    const { seconds = 5, batch = 1, highWater = 256 * 1024 } = message;
    const until = performance.now() + seconds * 1000;
    const cpu0 = process.cpuUsage();
    const started = performance.now();
    let published = 0;
    let waits = 0;
    let keepingUp = true;
    let checkedAt = 0;
    // Closed loop: publish while every socket keeps up (its buffer below
    // highWater, looked at every 5 ms, not per event: that would cost M
    // calls per event), yield to the event loop after each batch.
    for (let now = performance.now(); now < until; now = performance.now()) {
      if (now - checkedAt >= 5) {
        keepingUp = side.maxBuffered() < highWater;
        checkedAt = now;
      }
      if (keepingUp) {
        for (let i = 0; i < batch; i++) side.publish(nextEnvelope());
        published += batch;
      } else waits++;
      await new Promise((resolve) => setImmediate(resolve));
    }
    side.settle();
    // Let the last frames leave user space before the clock stops.
    while (side.maxBuffered() > 0 && performance.now() < until + 10_000) await new Promise((r) => setTimeout(r, 5));
    const cpu = process.cpuUsage(cpu0);
    send({ done: true, published, waits, wallMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 });
  }
  if (message.cmd === "stop") {
    await side.close();
    process.exit(0);
  }
});
