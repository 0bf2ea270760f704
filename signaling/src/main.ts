// Starts one Parley node. SIGTERM drains it (not ready, no new sessions, live
// ones finish up to DRAIN_TIMEOUT_MS) before it exits; SIGINT, or a second
// signal, stops it at once (live conversations end with their final score).
import { keepGeneratedSecret, loadConfig } from "./config.ts";
import { ParleyServer } from "./ParleyServer.ts";

const server = await ParleyServer.create({ config: keepGeneratedSecret(loadConfig()) });
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    const drain = signal === "SIGTERM" && !stopping;
    stopping = true;
    server.logger.info({ signal, drain }, "shutting down");
    (drain ? server.drain() : server.close()).then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
