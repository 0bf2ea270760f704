// Starts short-lived programs (flite or espeak-ng, per AI reply) from a small
// helper process instead of from the node itself. On Linux, child_process.spawn
// forks the calling process and blocks its event loop meanwhile, for a time
// that grows with its memory: 45-100 ms for a node of 0.5-1.5 GB (the
// embedded database alone makes it ~1 GB), measured here, and every
// conversation's audio waits behind it. The helper is a bare Node process
// of ~40 MB whose forks take about a millisecond; the node only writes a
// line to it and reads one back.
//
// Protocol (JSON lines): {id, command, args} starts a program, {id, kill}
// kills it; the helper answers {id, code, signal, stderr} when it exits, or
// {id, error} when it could not start. The helper exits, killing what it
// started, when the node closes its stdin (also when the node dies).
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";

const HELPER = `
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
const children = new Map();
const reply = (message) => process.stdout.write(JSON.stringify(message) + "\\n");
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const m = JSON.parse(line);
    if (m.kill) {
      children.get(m.id)?.kill("SIGKILL");
      return;
    }
    let stderr = "";
    let child;
    try {
      child = spawn(m.command, m.args, { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      reply({ id: m.id, error: String(e && e.message) });
      return;
    }
    children.set(m.id, child);
    child.stderr.on("data", (c) => { if (stderr.length < 4096) stderr += c; });
    child.on("error", (e) => { if (children.delete(m.id)) reply({ id: m.id, error: e.message }); });
    child.on("close", (code, signal) => { if (children.delete(m.id)) reply({ id: m.id, code, signal, stderr }); });
  })
  .on("close", () => {
    for (const child of children.values()) child.kill("SIGKILL");
    process.exit(0);
  });
`;

export interface LaunchResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: string | null;
  /** The start of what the program wrote on stderr (at most 4 KiB). */
  stderr: string;
}

interface Pending {
  resolve: (result: LaunchResult) => void;
  reject: (error: Error) => void;
}

/** The rejection of work aborted through `signal` (as Node's own APIs make it). */
export function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error("The operation was aborted", { cause: signal.reason }), {
    name: "AbortError",
    code: "ABORT_ERR",
  });
}

export class ProcessLauncher {
  #helper: ChildProcess | undefined;
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;
  #closed = false;

  /** Runs `command` with `args` (no shell) to completion; aborting kills it and rejects with an AbortError. */
  run(command: string, args: string[], signal?: AbortSignal): Promise<LaunchResult> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#closed) return Promise.reject(new Error("process launcher closed"));
    const helper = this.#started();
    const id = this.#nextId++;
    return new Promise<LaunchResult>((resolve, reject) => {
      const onAbort = () => {
        if (!this.#pending.delete(id)) return;
        this.#send(helper, { id, kill: true });
        this.#release();
        reject(abortError(signal!));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      const settle =
        <T>(fn: (value: T) => void) =>
        (value: T) => {
          signal?.removeEventListener("abort", onAbort);
          fn(value);
        };
      this.#pending.set(id, { resolve: settle(resolve), reject: settle(reject) });
      if (this.#pending.size === 1) helper.ref(); // a run in flight keeps the process alive
      this.#send(helper, { id, command, args });
    });
  }

  /** Stops the helper (what it runs is killed; pending runs reject). Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#helper?.stdin?.end();
    this.#failAll(new Error("process launcher closed"));
  }

  #started(): ChildProcess {
    if (this.#helper) return this.#helper;
    // Started once, while the node may still be small; from then on only the helper forks.
    const helper = spawn(process.execPath, ["--input-type=module", "-e", HELPER], {
      stdio: ["pipe", "pipe", "inherit"],
      env: process.env,
    });
    this.#helper = helper;
    helper.unref();
    for (const pipe of [helper.stdin, helper.stdout] as const) (pipe as unknown as { unref(): void }).unref();
    createInterface({ input: helper.stdout! }).on("line", (line) => this.#onReply(line));
    helper.on("error", (error) => this.#onExit(helper, error));
    helper.on("exit", (code, signal) =>
      this.#onExit(helper, new Error(`process launcher exited (${signal ?? `code ${code}`})`)),
    );
    helper.stdin!.on("error", () => {}); // its exit is reported above
    return helper;
  }

  #send(helper: ChildProcess, message: object): void {
    helper.stdin!.write(`${JSON.stringify(message)}\n`);
  }

  #onReply(line: string): void {
    const reply = JSON.parse(line) as { id: number; error?: string } & LaunchResult;
    const pending = this.#pending.get(reply.id);
    if (!pending) return; // aborted meanwhile
    this.#pending.delete(reply.id);
    this.#release();
    if (reply.error !== undefined) pending.reject(new Error(reply.error));
    else pending.resolve({ code: reply.code, signal: reply.signal, stderr: reply.stderr });
  }

  /** No run in flight: the helper no longer keeps the process alive. */
  #release(): void {
    if (this.#pending.size === 0) this.#helper?.unref();
  }

  #onExit(helper: ChildProcess, error: Error): void {
    if (this.#helper !== helper) return;
    this.#helper = undefined; // the next run starts a new helper
    this.#failAll(error);
  }

  #failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }
}
