// The mediasoup worker that install.sh built from source (.cache/mediasoup-worker),
// for tests that start workers themselves; undefined: the npm package's own.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export function builtWorkerBin(): string | undefined {
  try {
    const bin = fs.readFileSync(path.join(ROOT, ".cache/mediasoup-worker/current"), "utf8").trim();
    return fs.existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}
