// One way to reach Postgres: DATABASE_URL when it is set, else the embedded
// PGlite in a data folder. Either way the caller gets a postgres.js client.
import type { Logger } from "pino";
import postgres, { type Sql } from "postgres";

export { clientOptions };

import { EmbeddedPostgres } from "./EmbeddedPostgres.ts";

export interface DatabaseOptions {
  /** A real Postgres; unset: the embedded one. */
  databaseUrl?: string | undefined;
  /** The embedded database's folder (used when databaseUrl is unset). */
  dataDir: string;
  /** Connections to a real Postgres (the embedded one always gets 1). */
  maxConnections?: number;
  /** Where the embedded database's process reports a crash and its restart. */
  logger?: Logger;
}

export interface Database {
  sql: Sql;
  /** Present when running on the embedded PGlite. */
  embedded: EmbeddedPostgres | undefined;
  close(): Promise<void>;
}

// int8 columns (amounts in öre, counts) as JS numbers: they stay far below 2^53.
const int8AsNumber = {
  to: 20,
  from: [20],
  serialize: (value: number | bigint | string) => String(value),
  parse: (value: string) => Number(value),
};
/**
 * Seconds a connection waits before it connects again after its connection failed, `retries`
 * failures in a row (counted for the whole pool). postgres.js's default grows to 20 s: after a
 * restart of the database, a request given to a connection that failed during the outage waited
 * that long (a wall's tiles 11–16 s) while others were answered at once. Capped at 1 s here: a
 * refused connection costs a SYN, and an outage is found again on the next query anyway.
 */
export const reconnectDelaySeconds = (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1);

const clientOptions = {
  onnotice: () => {},
  backoff: reconnectDelaySeconds,
  transform: { undefined: null },
  types: { int8: int8AsNumber },
} as const;

export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) {
    const sql = postgres(options.databaseUrl, {
      ...clientOptions,
      max: options.maxConnections ?? 10,
      connect_timeout: 10,
    });
    return { sql, embedded: undefined, close: () => sql.end({ timeout: 5 }) };
  }
  const logger = options.logger;
  const embedded = await EmbeddedPostgres.start(options.dataDir, {
    onExit: (how) => logger?.error({ how }, "the embedded database process ended; restarting it"),
    onRestarted: (pid) => logger?.warn({ pid }, "the embedded database process is back"),
    onRestartFailed: (err) => logger?.error({ err }, "the embedded database process did not restart; retrying"),
  });
  const sql = postgres({
    host: embedded.host,
    port: embedded.port,
    user: "postgres",
    database: "postgres",
    ...clientOptions,
    max: 1,
    ssl: false,
  });
  let closed = false;
  return {
    sql,
    embedded,
    close: async () => {
      if (closed) return;
      closed = true;
      await sql.end({ timeout: 5 });
      await embedded.close();
    },
  };
}
