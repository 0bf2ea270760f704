// The helper that starts flite for the node: programs run to completion with
// their exit code and stderr, are started by the helper (not forked from the
// node), can be aborted, and a helper that dies fails what was in flight and
// is replaced on the next run.
import { readdirSync, readFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { ProcessLauncher } from "../../src/tts/ProcessLauncher.ts";

const launchers: ProcessLauncher[] = [];
afterEach(() => {
  for (const l of launchers.splice(0)) l.close();
});
const launcher = () => {
  const l = new ProcessLauncher();
  launchers.push(l);
  return l;
};
/** The parent PID of a program the launcher runs, as the program sees it. */
const parentOfChild = async (l: ProcessLauncher) => Number((await l.run("sh", ["-c", "echo $PPID >&2"])).stderr);
/** Names of the live child processes of `pid`, from /proc. */
const childrenOf = (pid: number) =>
  readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(ppid) === pid && state !== "Z" ? [stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))] : [];
      } catch {
        return []; // gone meanwhile
      }
    });
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("ProcessLauncher", () => {
  it("runs a program without a shell and reports its exit code and stderr", async () => {
    const l = launcher();
    expect(await l.run("sh", ["-c", "echo oops >&2; exit 3"])).toEqual({ code: 3, signal: null, stderr: "oops\n" });
    // Arguments are passed as they are: no shell expands them.
    expect((await l.run("sh", ["-c", 'printf %s "$1" >&2', "sh", "$HOME; rm -rf /"])).stderr).toBe("$HOME; rm -rf /");
    await expect(l.run("no-such-program-parley", [])).rejects.toThrow(/ENOENT/);
  });

  it("starts programs from its helper, not from this process, and reuses the helper", async () => {
    const l = launcher();
    const helper = await parentOfChild(l);
    expect(helper).not.toBe(process.pid);
    expect(await parentOfChild(l)).toBe(helper);
    const runs = await Promise.all(Array.from({ length: 5 }, (_, i) => l.run("sh", ["-c", `exit ${i}`])));
    expect(runs.map((r) => r.code)).toEqual([0, 1, 2, 3, 4]);
  });

  it("kills an aborted program and rejects with an AbortError", async () => {
    const l = launcher();
    const controller = new AbortController();
    const run = l.run("sleep", ["30"], controller.signal);
    const helper = await parentOfChild(l);
    await expect.poll(() => childrenOf(helper)).toContain("sleep");
    controller.abort();
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
    await expect.poll(() => childrenOf(helper)).not.toContain("sleep");
    await expect(l.run("true", [], controller.signal)).rejects.toMatchObject({ name: "AbortError" });
  });

  it("fails the runs in flight when its helper dies, and starts a new one for the next run", async () => {
    const l = launcher();
    const first = await parentOfChild(l);
    const slow = l.run("sleep", ["30"]);
    process.kill(first, "SIGKILL");
    await expect(slow).rejects.toThrow(/process launcher exited/);
    const second = await parentOfChild(l);
    expect(second).not.toBe(first);
    expect(alive(first)).toBe(false);
  });

  it("closes: the helper exits, runs in flight and later ones reject", async () => {
    const l = launcher();
    const helper = await parentOfChild(l);
    const slow = l.run("sleep", ["30"]);
    l.close();
    l.close();
    await expect(slow).rejects.toThrow(/closed/);
    await expect(l.run("true", [])).rejects.toThrow(/closed/);
    await expect.poll(() => alive(helper), { timeout: 5_000 }).toBe(false);
  });
});
