// Runs the latency probe as a standalone speech worker, so that a node can be
// load-tested on its pipeline alone (no speech engine's compute):
//
//   pnpm --filter @parley/loadtest probe -- --port 50099
//   ASR_WORKERS=127.0.0.1:50099 pnpm start
//
// Benchmark-only: it recognises nothing (see LatencyProbeRecognizer).
//
// With --record and an IPC channel (the voice-path benchmark), it keeps
// every chunk's arrival and every segment's send time on the machine's
// clock and sends them to its parent when asked ("collect").
import { parseArgs } from "node:util";
import { LatencyProbeRecognizer } from "./LatencyProbeRecognizer.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"), // pnpm passes its "--" through
  options: {
    port: { type: "string", default: "50099" },
    host: { type: "string", default: "127.0.0.1" },
    // A huge value: no segments at all (benchmarks of the audio path alone).
    "segment-every-ms": { type: "string", default: "250" },
    // With no segments: commit the audio received this often (the bridge drops a call that never commits).
    "commit-every-ms": { type: "string" },
    record: { type: "boolean", default: false },
  },
});
const record = values.record && process.send !== undefined;
const probe = new LatencyProbeRecognizer({
  record,
  segmentEveryMs: Number(values["segment-every-ms"]),
  ...(values["commit-every-ms"] ? { commitEveryMs: Number(values["commit-every-ms"]) } : {}),
});
if (record) process.on("message", (message) => message === "collect" && process.send?.(probe.takeRecords()));
const address = await probe.start(values.host, Number(values.port));
console.log(`latency probe (benchmark-only speech worker) on ${address}`);
const stop = () => {
  probe.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
