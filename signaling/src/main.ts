// Starts one Parley node with embedded defaults; graceful on SIGINT/SIGTERM.
import { loadConfig } from "./config.ts";
import { ParleyServer } from "./ParleyServer.ts";

const server = await ParleyServer.create({ config: loadConfig() });
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, "shutting down");
    server.close().then(
      () => process.exit(0),
      (err: unknown) => {
        server.logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}
