// The channel between the node and its speech workers: the real Python
// worker asking for a shared secret (ASR_AUTH_TOKEN), serving TLS (also
// mutual TLS), and the embedded worker's environment, which carries none of
// the node's secrets. Both of the node's clients are checked: grpc-js for the
// capacity probe and the bridge's own HTTP/2 client for the audio stream.
// Certificates are made for the test by Debian's openssl.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { RecognizeRequestSchema } from "@parley/proto/asr";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { type AsrChannelOptions, AsrWorkerPool } from "../src/AsrWorkerPool.ts";
import { AsrWorkerProcess } from "../src/AsrWorkerProcess.ts";

const logger = pino({ level: "silent" });
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function worker(options: { authToken?: string; extraArgs?: string[] } = {}) {
  const w = await AsrWorkerProcess.start({ logger, maxStreams: 1, ...options });
  cleanups.push(() => w.stop());
  return w;
}

/** Opens an audio stream through the node's own client: whether the worker answered "ready", or how it failed. */
async function audioStream(address: string, channel: AsrChannelOptions = {}) {
  const pool = new AsrWorkerPool({ addresses: [address], logger, channel });
  try {
    const call = pool.workers[0]!.recognize(10_000);
    const result = new Promise<{ ready: boolean; error?: grpc.ServiceError }>((resolve) => {
      call.on("data", (r) => resolve({ ready: r.kind.case === "ready" }));
      call.on("error", (error) => resolve({ ready: false, error: error as unknown as grpc.ServiceError }));
    });
    call.write(
      create(RecognizeRequestSchema, { kind: { case: "config", value: { sessionId: "x", sampleRateHz: 16_000 } } }),
    );
    const outcome = await result;
    call.cancel();
    return outcome;
  } finally {
    pool.close();
  }
}

async function probe(address: string, channel: AsrChannelOptions = {}) {
  const pool = new AsrWorkerPool({ addresses: [address], logger, channel });
  try {
    const [result] = await pool.probe(3_000);
    return result!;
  } finally {
    pool.close();
  }
}

/** A throwaway CA with a server certificate for localhost and a client certificate. */
function certificates() {
  const dir = mkdtempSync(path.join(os.tmpdir(), "parley-tls-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=parley test CA", "-days", "1");
  writeFileSync(file("server.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  for (const [name, subject, ext] of [
    ["server", "/CN=localhost", ["-extfile", "server.ext"]],
    ["client", "/CN=parley node", []],
  ] as const) {
    openssl("req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", subject);
    openssl(
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      `${name}.pem`,
      "-days",
      "1",
      ...ext,
    );
  }
  return { file, read: (name: string) => readFileSync(file(name)) };
}

describe("speech worker channel", () => {
  it("asks every caller for the shared secret", async () => {
    const w = await worker({ authToken: "s3cret-token-of-the-node" });
    const without = await probe(w.address);
    expect(without.ok).toBe(false);
    expect(without.error).toMatch(/UNAUTHENTICATED/);
    const wrong = await probe(w.address, { authToken: "another-token" });
    expect(wrong.error).toMatch(/UNAUTHENTICATED/);
    const right = await probe(w.address, { authToken: "s3cret-token-of-the-node" });
    expect(right).toMatchObject({ ok: true, info: { engine: "pocketsphinx", maxStreams: 1 } });
    // The audio stream too: refused before it reaches the engine.
    const pool = new AsrWorkerPool({ addresses: [w.address], logger });
    cleanups.push(() => pool.close());
    const call = pool.workers[0]!.recognize(5_000);
    call.write(
      create(RecognizeRequestSchema, { kind: { case: "config", value: { sessionId: "x", sampleRateHz: 16_000 } } }),
    );
    const error = await new Promise<{ code: number }>((resolve) => call.on("error", resolve));
    expect(error.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await audioStream(w.address, { authToken: "another-token" })).error?.code).toBe(
      grpc.status.UNAUTHENTICATED,
    );
    expect(await audioStream(w.address, { authToken: "s3cret-token-of-the-node" })).toEqual({ ready: true });
  }, 60_000);

  it("serves TLS, and with a client CA only to callers holding a certificate it signed", async () => {
    const certs = certificates();
    const tlsArgs = ["--tls-cert", certs.file("server.pem"), "--tls-key", certs.file("server.key")];
    const tls = await worker({ extraArgs: tlsArgs });
    const trusted = { rootCerts: certs.read("ca.pem"), serverName: "localhost" };
    expect((await probe(tls.address, { tls: trusted })).ok).toBe(true);
    expect((await probe(tls.address)).ok).toBe(false); // plaintext to a TLS port
    expect((await probe(tls.address, { tls: { serverName: "localhost" } })).ok).toBe(false); // unknown CA
    // The audio stream, on its own HTTP/2 connection, the same.
    expect(await audioStream(tls.address, { tls: trusted })).toEqual({ ready: true });
    expect((await audioStream(tls.address)).error?.code).toBe(grpc.status.UNAVAILABLE);
    expect((await audioStream(tls.address, { tls: { serverName: "localhost" } })).error?.code).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect((await audioStream(tls.address, { tls: { ...trusted, serverName: "not-the-server" } })).ready).toBe(false);

    const mutual = await worker({ extraArgs: [...tlsArgs, "--tls-client-ca", certs.file("ca.pem")] });
    expect((await probe(mutual.address, { tls: trusted })).ok).toBe(false);
    const withCert = { ...trusted, certChain: certs.read("client.pem"), privateKey: certs.read("client.key") };
    expect((await probe(mutual.address, { tls: withCert })).ok).toBe(true);
    expect((await audioStream(mutual.address, { tls: trusted })).ready).toBe(false);
    expect(await audioStream(mutual.address, { tls: withCert })).toEqual({ ready: true });
  }, 90_000);

  it("starts the embedded worker on loopback without the node's secrets", async () => {
    const secrets = { JWT_SECRET: "j".repeat(40), DATABASE_URL: "postgres://u:p@db/x", STRIPE_SECRET_KEY: "sk_x" };
    Object.assign(process.env, secrets);
    cleanups.push(() => {
      for (const name of Object.keys(secrets)) delete process.env[name];
    });
    const w = await worker({ authToken: "the-worker-token" });
    const environ = readFileSync(`/proc/${w.pid}/environ`, "utf8").split("\0");
    for (const name of Object.keys(secrets)) expect(environ.some((e) => e.startsWith(`${name}=`))).toBe(false);
    expect(environ).toContain("ASR_AUTH_TOKEN=the-worker-token");
    expect(environ.some((e) => e.startsWith("PATH="))).toBe(true);
    // Listening on loopback only (127.0.0.1, also as IPv4-mapped IPv6, or ::1).
    const listening = readFileSync("/proc/net/tcp", "utf8") + readFileSync("/proc/net/tcp6", "utf8");
    const port = w.port.toString(16).toUpperCase().padStart(4, "0");
    const rows = listening.split("\n").filter((row) => row.includes(`:${port} `) && / 0A /.test(row));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows)
      expect(row.trim().split(/\s+/)[1]).toMatch(/^(0100007F|0{16}FFFF00000100007F|0{24}01000000):/);
  }, 60_000);
});
