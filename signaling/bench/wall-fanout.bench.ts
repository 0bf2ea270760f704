// Fan-out of live events to M dashboards by one node: Parley's wall hub on
// uWS pub/sub against the `ws` library doing the same work, in the same run.
// Each server runs in its own process; the dashboards are raw sockets in two
// other processes that only count bytes. The publisher runs a closed loop:
// it publishes whenever no socket has more than HIGH_WATER bytes waiting in
// the server, so the figure is what the server sustains without building a
// backlog. Printed per server and M:
//   events/s       live events published and delivered to every dashboard
//   deliveries/s   events/s × M (frames written to sockets)
//   CPU µs/event   the server process's CPU time (user + system) per event,
//                  and per delivery
// uws-nowindow is the same node sending each frame in the event-loop turn
// it was published in (WALL_FLUSH_INTERVAL_MS=0) instead of once per 16 ms
// window: the difference is what the window is worth.
// The uws sides are a whole Parley node (mediasoup and speech workers idle in
// their own processes), with every subscriber of its bus running; the ws
// side is only a bus, a frame and a send loop. Prints figures, asserts
// nothing.
//
//   cd signaling && npx tsx bench/wall-fanout.bench.ts
//   CLIENTS=10,100,1000 SECONDS=5 BATCH=1,20 npx tsx bench/wall-fanout.bench.ts
import { type ChildProcess, fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const CLIENTS = (process.env.CLIENTS ?? "10,100,1000").split(",").map(Number);
const SECONDS = Number(process.env.SECONDS ?? 5);
const BATCHES = (process.env.BATCH ?? "1,20").split(",").map(Number);
const HIGH_WATER = Number(process.env.HIGH_WATER ?? 64 * 1024);
const CLIENT_PROCESSES = 2;

type Message = Record<string, unknown>;

function child(script: string, args: string[]): { proc: ChildProcess; next: (key: string) => Promise<Message> } {
  const proc = fork(path.join(here, script), args, { execArgv: ["--import", "tsx"], stdio: "inherit" });
  const inbox: Message[] = [];
  const waiting: (() => void)[] = [];
  proc.on("message", (m: Message) => {
    inbox.push(m);
    for (const w of waiting.splice(0)) w();
  });
  const next = async (key: string): Promise<Message> => {
    for (;;) {
      const i = inbox.findIndex((m) => key in m);
      if (i >= 0) return inbox.splice(i, 1)[0]!;
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
  return { proc, next };
}

interface Result {
  transport: string;
  clients: number;
  batch: number;
  eventsPerS: number;
  deliveredShare: number;
  cpuUsPerEvent: number;
  cpuNsPerDelivery: number;
}

type Transport = "uws" | "uws-nowindow" | "ws";
const TRANSPORTS = (process.env.SERVERS ?? "uws,uws-nowindow,ws").split(",") as Transport[];

async function measure(transport: Transport, clients: number, batch: number): Promise<Result> {
  const server = child("wall-fanout-server.ts", [transport]);
  const ready = await server.next("ready");
  const per = Math.ceil(clients / CLIENT_PROCESSES);
  const groups = Array.from({ length: CLIENT_PROCESSES }, (_, i) => Math.min(per, clients - i * per)).filter(
    (n) => n > 0,
  );
  const dashboards = groups.map((n) =>
    child("wall-fanout-clients.ts", [String(ready.port), String(n), String(ready.token)]),
  );
  try {
    await Promise.all(dashboards.map((d) => d.next("connected")));
    for (let i = 0; i < 200; i++) {
      server.proc.send({ cmd: "clients" });
      if ((await server.next("clients")).clients === clients) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    for (const d of dashboards) d.proc.send({ cmd: "start" });
    await Promise.all(dashboards.map((d) => d.next("started")));
    server.proc.send({ cmd: "run", seconds: SECONDS, batch, highWater: HIGH_WATER });
    const run = await server.next("done");
    const published = Number(run.published);
    // Wait until the kernel has handed every byte over (or nothing moves any more).
    let received = 0;
    for (let quiet = 0, last = -1; quiet < 5; ) {
      await new Promise((r) => setTimeout(r, 100));
      for (const d of dashboards) d.proc.send({ cmd: "report" });
      received = 0;
      for (const d of dashboards) received += Number((await d.next("bytes")).bytes);
      quiet = received === last ? quiet + 1 : 0;
      last = received;
      if (received >= published * clients * Number(ready.wireBytes)) break;
    }
    const delivered = received / Number(ready.wireBytes);
    const cpuMs = Number(run.cpuMs);
    return {
      transport,
      clients,
      batch,
      eventsPerS: published / (Number(run.wallMs) / 1000),
      deliveredShare: delivered / (published * clients),
      cpuUsPerEvent: (cpuMs * 1000) / published,
      cpuNsPerDelivery: (cpuMs * 1e6) / (published * clients),
    };
  } finally {
    for (const d of dashboards) d.proc.send({ cmd: "stop" });
    server.proc.send({ cmd: "stop" });
    await Promise.all([server, ...dashboards].map((c) => new Promise((r) => c.proc.once("exit", r))));
  }
}

const fmt = (n: number, d = 0) => n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
console.log(
  `fan-out of live events: ${SECONDS} s per run, closed loop at ${HIGH_WATER / 1024} KiB per socket, ${CLIENT_PROCESSES} client processes`,
);
console.log("server        M      batch  events/s    deliveries/s   delivered  CPU µs/event  CPU ns/delivery");
const results: Result[] = [];
for (const batch of BATCHES)
  for (const clients of CLIENTS)
    for (const transport of TRANSPORTS) {
      const r = await measure(transport, clients, batch);
      results.push(r);
      console.log(
        `${r.transport.padEnd(13)} ${String(r.clients).padEnd(6)} ${String(r.batch).padEnd(6)} ${fmt(r.eventsPerS).padStart(9)}  ${fmt(r.eventsPerS * r.clients).padStart(13)}   ${fmt(100 * r.deliveredShare, 1).padStart(6)} %  ${fmt(r.cpuUsPerEvent, 1).padStart(11)}  ${fmt(r.cpuNsPerDelivery).padStart(14)}`,
      );
    }
console.log("\nagainst ws (same M, same batch): throughput ×, CPU per event ÷");
for (const u of results.filter((r) => r.transport !== "ws")) {
  const w = results.find((r) => r.transport === "ws" && r.clients === u.clients && r.batch === u.batch);
  if (!w) continue;
  console.log(
    `${u.transport.padEnd(13)} M=${String(u.clients).padEnd(5)} batch ${String(u.batch).padEnd(3)} events/s ×${fmt(u.eventsPerS / w.eventsPerS, 1)}   CPU per event ÷${fmt(w.cpuUsPerEvent / u.cpuUsPerEvent, 1)}`,
  );
}
