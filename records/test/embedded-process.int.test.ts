// The embedded PGlite runs in a process of its own: queries never run on the
// node's event loop, a crash of that process is repaired (restarted on the
// same port, postgres.js reconnects, nothing committed is lost), and it never
// outlives the node that started it.
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import postgres from "postgres";
import { afterAll, describe, expect, it } from "vitest";
import { EmbeddedPostgres } from "../src/db/EmbeddedPostgres.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-embedded-process-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A process that ended and was reaped has no /proc entry any more. */
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);

async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe("the embedded database's process", () => {
  it("serves queries from another process, comes back after a crash with its data, and ends on close", async () => {
    const exits: string[] = [];
    const restarts: number[] = [];
    const embedded = await EmbeddedPostgres.start(path.join(dir, "a"), {
      onExit: (how) => exits.push(how),
      onRestarted: (pid) => restarts.push(pid),
    });
    const firstPid = embedded.pid!;
    expect(firstPid).toBeGreaterThan(0);
    expect(firstPid).not.toBe(process.pid);
    const sql = postgres({ host: embedded.host, port: embedded.port, user: "postgres", max: 1, onnotice: () => {} });
    try {
      await sql`create table notes (id int primary key, body text)`;
      await sql`insert into notes values (1, 'before the crash')`;

      process.kill(firstPid, "SIGKILL");
      await expect(sql`select 1`).rejects.toThrow(); // the connection died with the process
      // Restarted on the same port: the same client reconnects by itself. (Not
      // asked at once: postgres.js can leave a query issued in the very tick its
      // connection broke waiting forever; the record writer retries on a timer.)
      await until("the restart", async () => (restarts.length > 0 ? true : undefined));
      const rows = await until("the database to come back", async () => {
        const r = await sql<{ body: string }[]>`select body from notes order by id`;
        return r.length > 0 ? r : undefined;
      });
      expect(rows.map((r) => r.body)).toEqual(["before the crash"]);
      expect(exits).toEqual(["SIGKILL"]);
      expect(restarts).toHaveLength(1);
      expect(embedded.pid).toBe(restarts[0]);
      expect(embedded.pid).not.toBe(firstPid);
      await sql`insert into notes values (2, 'after')`;
    } finally {
      await sql.end({ timeout: 5 });
    }
    const last = embedded.pid!;
    await embedded.close();
    expect(alive(last)).toBe(false);
    await embedded.close(); // twice is fine

    // Reopened later: both rows are there.
    const again = await EmbeddedPostgres.start(path.join(dir, "a"));
    const sql2 = postgres({ host: again.host, port: again.port, user: "postgres", max: 1, onnotice: () => {} });
    try {
      expect((await sql2`select count(*)::int as n from notes`)[0]!.n).toBe(2);
      expect(again.created).toBe(false);
    } finally {
      await sql2.end({ timeout: 5 });
      await again.close();
    }
  });

  it("does not outlive a node that is killed", async () => {
    const entry = path.resolve(import.meta.dirname, "../src/db/EmbeddedPostgres.ts");
    const script = `import { EmbeddedPostgres } from ${JSON.stringify(entry)};
      const db = await EmbeddedPostgres.start(${JSON.stringify(path.join(dir, "b"))});
      console.log(db.pid); setInterval(() => {}, 1000);`;
    const node = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: path.resolve(import.meta.dirname, ".."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    const dbPid = await new Promise<number>((resolve, reject) => {
      node.stdout.once("data", (chunk) => resolve(Number(String(chunk).trim())));
      node.once("exit", (code) => reject(new Error(`node exited early (${code})`)));
    });
    expect(alive(dbPid)).toBe(true);
    // The database is the node's child, not a daemon of its own.
    expect(execFileSync("ps", ["-o", "ppid=", "-p", String(dbPid)], { encoding: "utf8" }).trim()).toBe(
      String(node.pid),
    );
    node.kill("SIGKILL");
    await until("the database process to end", async () => (alive(dbPid) ? undefined : true), 30_000);
  });
});
