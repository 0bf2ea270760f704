// The latency probe as a process of its own (main.ts), for benchmarks: its
// work and its clock are then apart from the load generator's. With
// `--record` among the arguments, collect() fetches what it recorded.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { ProbeRecords } from "./LatencyProbeRecognizer.ts";

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));
const PACKAGE_ROOT = path.resolve(path.dirname(MAIN), "../..");

export interface ProbeProcess {
  child: ChildProcess;
  /** Its gRPC address (host:port). */
  address: string;
  /** What it recorded since the last call (needs `--record`). */
  collect(): Promise<ProbeRecords>;
}

/** Starts the probe on a free port; resolves once it listens. `args`: main.ts's options. */
export async function startProbeProcess(args: readonly string[] = []): Promise<ProbeProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--port", "0", ...args], {
    stdio: ["ignore", "pipe", "inherit", "ipc"],
    cwd: PACKAGE_ROOT, // where tsx resolves
  });
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk;
      const match = / on (\S+:\d+)/.exec(out);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`latency probe exited (${code})`)));
  });
  const collect = () =>
    new Promise<ProbeRecords>((resolve) => {
      child.once("message", (records) => resolve(records as ProbeRecords));
      child.send("collect");
    });
  return { child, address, collect };
}
