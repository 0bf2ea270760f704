// Migrations from an empty database, on a real PostgreSQL 15 and on the
// embedded PGlite: the same files, the same resulting schema.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../src/db/connect.ts";
import { loadMigrations, MigrationError, migrate } from "../src/db/migrate.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { startCluster } from "./helpers.ts";

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());

type Sql = postgres.Sql;
const schemaOf = async (sql: Sql) =>
  (
    await sql<{ table_name: string; column_name: string; data_type: string; is_nullable: string }[]>`
      select table_name, column_name, data_type, is_nullable from information_schema.columns
      where table_schema = 'public' order by table_name, ordinal_position`
  ).map((r) => `${r.table_name}.${r.column_name} ${r.data_type} ${r.is_nullable}`);

describe("migrations", () => {
  it("build the schema from an empty PostgreSQL 15, once", async () => {
    const sql = postgres(await pg.createDatabase(), { onnotice: () => {} });
    try {
      const [version] = await sql`show server_version`;
      expect(version!.server_version).toMatch(/^15\./);
      const all = loadMigrations().map((m) => m.version);
      expect(await migrate(sql)).toEqual(all);
      expect(await migrate(sql)).toEqual([]); // a second start applies nothing
      const tables = (await sql`select tablename from pg_tables where schemaname = 'public' order by 1`).map(
        (r) => r.tablename,
      );
      for (const t of [
        "businesses",
        "stores",
        "users",
        "sessions",
        "transcript_segments",
        "score_updates",
        "final_scores",
        "ai_questions",
        "rewards",
        "payouts",
        "stripe_events",
        "fraud_flags",
        "audit_log",
        "user_stores",
        "schema_migrations",
      ])
        expect(tables).toContain(t);
    } finally {
      await sql.end();
    }
  });

  it("run once when several nodes start together", async () => {
    const url = await pg.createDatabase();
    const clients = [0, 1, 2].map(() => postgres(url, { onnotice: () => {}, max: 1 }));
    try {
      const results = await Promise.all(clients.map((sql) => migrate(sql)));
      expect(results.filter((r) => r.length > 0)).toHaveLength(1);
      const [row] = await clients[0]!`select count(*)::int as n from schema_migrations`;
      expect(row!.n).toBe(loadMigrations().length);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it("refuse a migration that was edited after it was applied, and roll back a failing one", async () => {
    const sql = postgres(await pg.createDatabase(), { onnotice: () => {} });
    try {
      await migrate(sql);
      const edited = loadMigrations().map((m, i) => (i === 0 ? { ...m, checksum: "changed" } : m));
      await expect(migrate(sql, edited)).rejects.toThrow(MigrationError);
      const broken = [
        ...loadMigrations(),
        { version: 99, name: "broken", sql: "create table ok_part (id int); select 1/0;", checksum: "x" },
      ];
      await expect(migrate(sql, broken)).rejects.toThrow(/division by zero/);
      const [row] = await sql`select to_regclass('ok_part') is not null as exists`;
      expect(row!.exists).toBe(false);
    } finally {
      await sql.end();
    }
  });

  it("give PGlite the same schema as PostgreSQL 15", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-pglite-"));
    const embedded = await openDatabase({ dataDir: dir });
    const real = postgres(await pg.createDatabase(), { onnotice: () => {} });
    try {
      expect(await migrate(embedded.sql)).toEqual(loadMigrations().map((m) => m.version));
      await migrate(real);
      expect(await schemaOf(embedded.sql)).toEqual(await schemaOf(real));
    } finally {
      await real.end();
      await embedded.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
