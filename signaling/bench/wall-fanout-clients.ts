// Dashboard sockets for the fan-out benchmark, in their own process: raw
// TCP WebSocket clients that do the handshake (and, for Parley, the
// dashboard protocol's hello and subscribe), then only count the bytes they
// receive, so that the clients' cost stays far below the servers'.
import { randomBytes } from "node:crypto";
import net from "node:net";
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema } from "@parley/proto/wall";

const [port, count, token] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? ""];
const send = (message: unknown) => process.send!(message);

/** A masked binary client frame. */
function clientFrame(payload: Uint8Array): Buffer {
  const mask = randomBytes(4);
  const header =
    payload.length < 126
      ? Buffer.from([0x82, 0x80 | payload.length])
      : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.alloc(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, body]);
}

const request = (requestId: number, kind: MessageInitShape<typeof ClientMessageSchema>["kind"]) =>
  clientFrame(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));

let counting = false;
let bytes = 0;
const sockets: net.Socket[] = [];

function connect(): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.setNoDelay(true);
    let upgraded = false;
    let head = "";
    socket.on("error", reject);
    socket.on("connect", () =>
      socket.write(
        `GET /wall/ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    socket.on("data", (chunk: Buffer) => {
      if (counting) {
        bytes += chunk.length;
        return;
      }
      if (upgraded) return; // the dashboard protocol's responses
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(head.split("\r\n")[0]));
      upgraded = true;
      if (token) {
        socket.write(request(1, { case: "hello", value: { token } }));
        socket.write(request(2, { case: "subscribe", value: { recentLimit: 1 } }));
      }
      sockets.push(socket);
      resolve();
    });
  });
}

for (let i = 0; i < count; i += 50) await Promise.all(Array.from({ length: Math.min(50, count - i) }, connect));
send({ connected: sockets.length });

process.on("message", (message: { cmd: string }) => {
  if (message.cmd === "start") {
    counting = true;
    bytes = 0;
    send({ started: true });
  }
  if (message.cmd === "report") send({ bytes });
  if (message.cmd === "stop") {
    for (const s of sockets) s.destroy();
    process.exit(0);
  }
});
