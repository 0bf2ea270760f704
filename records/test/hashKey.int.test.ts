// The hash key's storage on a real PostgreSQL: generated once and shared;
// sealed under ENCRYPTION_KEY, where a plain key found is sealed in place
// (existing hashes keep verifying); a wrong or missing key refuses to start.
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHashKey } from "../src/db/hashKey.ts";
import { migrate } from "../src/db/migrate.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { startCluster } from "./helpers.ts";

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());

async function database() {
  const sql = postgres(await pg.createDatabase(), { onnotice: () => {} });
  await migrate(sql);
  return sql;
}

const stored = async (sql: postgres.Sql) =>
  (await sql<{ name: string; value: Buffer }[]>`select name, value from instance_secrets order by name`).map((r) => ({
    name: r.name,
    value: Buffer.from(r.value),
  }));

describe("the records hash key", () => {
  it("is generated once and then the same for every node", async () => {
    const sql = await database();
    try {
      const [a, b] = await Promise.all([loadHashKey(sql), loadHashKey(sql)]);
      expect(a).toHaveLength(32);
      expect(b).toEqual(a);
      expect(await loadHashKey(sql)).toEqual(a);
    } finally {
      await sql.end();
    }
  });

  it("is sealed under ENCRYPTION_KEY: the dump holds no key; a plain key found is sealed in place, unchanged", async () => {
    const sql = await database();
    const encryptionKey = randomBytes(32);
    try {
      const plain = await loadHashKey(sql); // a deployment that ran without ENCRYPTION_KEY
      const [a, b] = await Promise.all([loadHashKey(sql, encryptionKey), loadHashKey(sql, encryptionKey)]);
      expect(a).toEqual(plain); // the hashes already stored keep verifying
      expect(b).toEqual(plain);
      const rows = await stored(sql);
      expect(rows.map((r) => r.name)).toEqual(["records_hash_key_sealed"]);
      expect(rows[0]!.value.includes(plain)).toBe(false);
      expect(await loadHashKey(sql, encryptionKey)).toEqual(plain);

      await expect(loadHashKey(sql, randomBytes(32))).rejects.toThrow(/does not open/);
      await expect(loadHashKey(sql)).rejects.toThrow(/sealed: set ENCRYPTION_KEY/);
    } finally {
      await sql.end();
    }
  });

  it("is generated sealed on a new database with ENCRYPTION_KEY", async () => {
    const sql = await database();
    const encryptionKey = randomBytes(32);
    try {
      const key = await loadHashKey(sql, encryptionKey);
      const rows = await stored(sql);
      expect(rows.map((r) => r.name)).toEqual(["records_hash_key_sealed"]);
      expect(rows[0]!.value.includes(key)).toBe(false);
      expect(await loadHashKey(sql, encryptionKey)).toEqual(key);
    } finally {
      await sql.end();
    }
  });
});
