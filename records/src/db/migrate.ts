// Versioned, forward-only migrations from records/migrations/NNNN_name.sql.
//
// A runner of our own rather than postgres-shift or ley: postgres-shift has no
// types, no lock and a fixed `migrations` table; ley is a CLI-first tool that
// loads migration modules from disk by dynamic import. What we need is small:
// one advisory lock so several nodes starting together migrate once, all pending
// files in one transaction, each with its row in schema_migrations, and a checksum so an
// edited, already-applied migration is refused instead of silently skipped.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Sql } from "postgres";

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../migrations");

/** Any 64-bit constant: the lock all Parley nodes take while migrating. */
const MIGRATION_LOCK = 0x7061726c6579n; // "parley"

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export class MigrationError extends Error {
  override readonly name = "MigrationError";
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort();
  const migrations = files.map((file) => {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new MigrationError(`migration file name must be NNNN_name.sql: ${file}`);
    const sql = fs.readFileSync(path.join(dir, file), "utf8");
    return {
      version: Number(match[1]),
      name: match[2]!,
      sql,
      checksum: createHash("sha256").update(sql).digest("hex"),
    };
  });
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new MigrationError(`migrations must be numbered 1..n without gaps: ${m.version}`);
  });
  return migrations;
}

/** Applies what is missing; returns the versions applied now. */
export async function migrate(sql: Sql, migrations = loadMigrations()): Promise<number[]> {
  const applied: number[] = [];
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
    await tx`
      create table if not exists schema_migrations (
        version integer primary key,
        name text not null,
        checksum text not null,
        applied_at timestamptz not null default now()
      )`;
    const done = new Map<number, string>();
    for (const row of await tx<
      { version: number; checksum: string }[]
    >`select version, checksum from schema_migrations`)
      done.set(row.version, row.checksum);
    for (const m of migrations) {
      const checksum = done.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum)
          throw new MigrationError(`migration ${m.version}_${m.name} was changed after it was applied`);
        continue;
      }
      // A savepoint per file: a failing migration names itself and leaves nothing half-done.
      await tx.savepoint(async (sp) => {
        await sp.unsafe(m.sql);
        await sp`insert into schema_migrations (version, name, checksum) values (${m.version}, ${m.name}, ${m.checksum})`;
      });
      applied.push(m.version);
    }
    const known = new Set(migrations.map((m) => m.version));
    const unknown = [...done.keys()].filter((v) => !known.has(v));
    if (unknown.length)
      throw new MigrationError(`database has migrations this code does not know: ${unknown.join(", ")}`);
  });
  return applied;
}
