import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  describeConfig,
  keepGeneratedSecret,
  loadConfig,
  MAX_TIMER_MS,
  parseDurationMs,
  REPO_ROOT,
} from "../src/config.ts";

describe("configuration", () => {
  it("has embedded defaults: built-in scoring, embedded speech worker", () => {
    const config = loadConfig({});
    expect(config.scoring.ollamaHost).toBeUndefined();
    expect(config.scoring.model).toBe("qwen2:0.5b");
    expect(config.asr.workers).toEqual([]);
    expect(config.asr.embeddedMaxStreams).toBe(2 * os.availableParallelism());
    expect(config.tokenTtlMs).toBe(15 * 60_000);
    expect(config.jwtSecretGenerated).toBe(true);
  });

  it("reads Ollama's address from OLLAMA_HOST or the deployment guide's OLLAMA_ENDPOINT", () => {
    expect(loadConfig({ OLLAMA_ENDPOINT: "http://ollama:11434" }).scoring.ollamaHost).toBe("http://ollama:11434");
    // Manifests that leave OLLAMA_HOST empty still reach the guide's variable.
    expect(loadConfig({ OLLAMA_HOST: "", OLLAMA_ENDPOINT: "http://ollama:11434" }).scoring.ollamaHost).toBe(
      "http://ollama:11434",
    );
    expect(loadConfig({ OLLAMA_HOST: "gpu-1:11434", OLLAMA_MODEL: "qwen2:1.5b" }).scoring).toMatchObject({
      ollamaHost: "gpu-1:11434",
      model: "qwen2:1.5b",
    });
  });

  it("reads PROMETHEUS_METRICS_ENABLED as a boolean, refusing what is neither", () => {
    expect(loadConfig({}).metricsEnabled).toBe(true);
    for (const off of ["false", "0", "off", "no"])
      expect(loadConfig({ PROMETHEUS_METRICS_ENABLED: off }).metricsEnabled).toBe(false);
    expect(() => loadConfig({ PROMETHEUS_METRICS_ENABLED: "maybe" })).toThrow(/PROMETHEUS_METRICS_ENABLED/);
  });

  it("reads ENCRYPTION_KEY as 32 bytes of hex, never logs it, and refuses anything else", () => {
    const hex = "ab".repeat(32);
    const config = loadConfig({ ENCRYPTION_KEY: hex });
    expect(config.records.encryptionKey).toEqual(Buffer.from(hex, "hex"));
    expect(JSON.stringify(describeConfig(config))).not.toContain(hex);
    expect(loadConfig({}).records.encryptionKey).toBeUndefined();
    expect(() => loadConfig({ ENCRYPTION_KEY: "your_32_byte_hex_encryption_key" })).toThrow(/ENCRYPTION_KEY/);
  });

  it("lists speech workers and rejects malformed numbers and weak secrets", () => {
    expect(loadConfig({ ASR_WORKERS: "a:1, b:2," }).asr.workers).toEqual(["a:1", "b:2"]);
    expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
    expect(() => loadConfig({ JWT_SECRET: "short" })).toThrow(/32/);
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/JWT_SECRET/);
    // A retention of 0 would delete conversations under way: refused at start-up.
    expect(() => loadConfig({ DATA_RETENTION_DAYS: "0" })).toThrow(/DATA_RETENTION_DAYS must be at least 1/);
    expect(() => loadConfig({ VOICE_DATA_RETENTION_HOURS: "-1" })).toThrow(/VOICE_DATA_RETENTION_HOURS/);
    expect(loadConfig({ VOICE_DATA_RETENTION_HOURS: "1" }).records.voiceRetentionHours).toBe(1);
  });

  it("refuses limits, rates and timeouts out of range, naming the variable and the range", () => {
    const refused: [string, string, RegExp][] = [
      // A rate of 0 would make the retry hint of RATE_LIMITED infinite.
      ["WS_MAX_MESSAGES_PER_SECOND", "0", /WS_MAX_MESSAGES_PER_SECOND must be at least 1, got 0/],
      ["WS_MAX_MESSAGES_PER_SECOND", "-5", /WS_MAX_MESSAGES_PER_SECOND must be at least 1/],
      ["WS_MESSAGE_BURST", "0", /WS_MESSAGE_BURST must be at least 1/],
      ["WS_JOIN_TIMEOUT_MS", "0", /WS_JOIN_TIMEOUT_MS must be from 1 to 2147483647, got 0/],
      ["WS_JOIN_TIMEOUT_MS", "-1", /WS_JOIN_TIMEOUT_MS must be from 1 to 2147483647/],
      ["WS_REJOIN_GRACE_MS", "-1", /WS_REJOIN_GRACE_MS must be from 0 to 2147483647, got -1/],
      ["SESSION_MAX_DURATION_MS", "0", /SESSION_MAX_DURATION_MS must be from 1 to 2147483647/],
      // Beyond 2^31-1 ms Node fires a timer after 1 ms.
      ["SESSION_MAX_DURATION_MS", String(MAX_TIMER_MS + 1), /SESSION_MAX_DURATION_MS must be from 1 to 2147483647/],
      ["WS_REJOIN_GRACE_MS", "3000000000", /WS_REJOIN_GRACE_MS must be from 0 to 2147483647/],
      ["WALL_CLIENT_STALL_MS", "0", /WALL_CLIENT_STALL_MS/],
      ["OLLAMA_TIMEOUT_MS", "0", /OLLAMA_TIMEOUT_MS/],
      ["RATE_LIMIT_WINDOW_MS", "0", /RATE_LIMIT_WINDOW_MS/],
      ["RATE_LIMIT_MAX_REQUESTS", "0", /RATE_LIMIT_MAX_REQUESTS must be at least 1/],
      ["SESSIONS_MAX_PER_IP", "0", /SESSIONS_MAX_PER_IP/],
      ["NODE_MAX_SESSIONS", "-1", /NODE_MAX_SESSIONS must be at least 0/],
      ["PORT", "70000", /PORT must be from 0 to 65535/],
      ["JWT_EXPIRES_IN", "0", /JWT_EXPIRES_IN must be from 1 ms to 2147483647 ms, got "0"/],
      ["JWT_EXPIRES_IN", "30d", /JWT_EXPIRES_IN must be from 1 ms/],
      ["JWT_EXPIRES_IN", "soon", /JWT_EXPIRES_IN must be a duration/],
      ["MEDIASOUP_RTC_MIN_PORT", "50000", /MEDIASOUP_RTC_MIN_PORT \(50000\) must not exceed MEDIASOUP_RTC_MAX_PORT/],
    ];
    for (const [name, value, message] of refused) expect(() => loadConfig({ [name]: value }), name).toThrow(message);
  });

  it("takes 0 where it has a meaning, and the longest timer Node keeps", () => {
    const config = loadConfig({
      WS_REJOIN_GRACE_MS: "0", // a dropped socket's conversation ends at once
      NODE_MAX_SESSIONS: "0", // never chosen by placement
      WALL_FLUSH_INTERVAL_MS: "0",
      SESSION_MAX_DURATION_MS: String(MAX_TIMER_MS),
      JWT_EXPIRES_IN: "24h",
      PORT: "0",
    });
    expect(config.limits).toMatchObject({ rejoinGraceMs: 0, sessionMaxDurationMs: MAX_TIMER_MS });
    expect(config.node.maxSessions).toBe(0);
    expect(config.wall.flushIntervalMs).toBe(0);
    expect(config.tokenTtlMs).toBe(86_400_000);
  });

  it("documents every variable it reads in the README's configuration table", () => {
    const source = readFileSync(new URL("../src/config.ts", import.meta.url), "utf8");
    const read = new Set([...source.matchAll(/\benv(?:\.|, ")([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!));
    const readme = readFileSync(`${REPO_ROOT}/README.md`, "utf8");
    const tableRows = readme.split("\n").filter((line) => line.startsWith("| `"));
    const documented = (name: string) => tableRows.some((row) => row.split("|")[1]!.includes(`\`${name}\``));
    expect(read.size).toBeGreaterThan(50);
    expect([...read].filter((name) => !documented(name))).toEqual([]);
  });

  it("masks the secret when logged", () => {
    expect(describeConfig(loadConfig({ JWT_SECRET: "s".repeat(40) })).jwtSecret).toBe("***");
  });

  it("reads the edge's limits, origins and the speech channel, with safe defaults", () => {
    const defaults = loadConfig({});
    expect(defaults.internal).toMatchObject({ host: "127.0.0.1", port: 9464, metricsToken: undefined });
    expect(defaults.rateLimit).toEqual({ windowMs: 900_000, maxPerIp: 1_000, maxPerStore: 1_000 });
    expect(defaults.http).toEqual({ allowedOrigins: [], trustedProxies: [] });
    expect(defaults.asr).toMatchObject({ tls: undefined, authToken: undefined });
    const config = loadConfig({
      ALLOWED_ORIGINS: "https://app.example.com/, https://kiosk.example.com:8443",
      FRONTEND_URL: "https://aifeedback.se/welcome",
      RATE_LIMIT_MAX_REQUESTS: "50",
      ASR_TLS_CA_FILE: "/etc/parley/ca.pem",
      ASR_AUTH_TOKEN: "t".repeat(32),
      METRICS_AUTH_TOKEN: "m".repeat(32),
    });
    expect(config.http.allowedOrigins).toEqual([
      "https://app.example.com",
      "https://kiosk.example.com:8443",
      "https://aifeedback.se",
    ]);
    expect(config.rateLimit).toMatchObject({ maxPerIp: 50, maxPerStore: 50 });
    expect(config.asr.tls).toMatchObject({ caFile: "/etc/parley/ca.pem", certFile: undefined });
    const logged = JSON.stringify(describeConfig(config));
    expect(logged).not.toMatch(/tttt|mmmm/);
    expect(() => loadConfig({ ALLOWED_ORIGINS: "app.example.com" })).toThrow(/ALLOWED_ORIGINS/);
    expect(() => loadConfig({ ASR_TLS: "1", ASR_TLS_CERT_FILE: "/c.pem" })).toThrow(/go together/);
  });

  it("reads when a speech worker is kept out of placements", () => {
    expect(loadConfig({}).asr).toMatchObject({ workerDownMs: 2_000, workerMaxDownMs: 60_000, workerMaxLagMs: 10_000 });
    const set = loadConfig({
      ASR_WORKER_DOWN_MS: "500",
      ASR_WORKER_MAX_DOWN_MS: "8000",
      ASR_WORKER_MAX_LAG_MS: "4000",
    });
    expect(set.asr).toMatchObject({ workerDownMs: 500, workerMaxDownMs: 8_000, workerMaxLagMs: 4_000 });
    expect(() => loadConfig({ ASR_WORKER_DOWN_MS: "5000", ASR_WORKER_MAX_DOWN_MS: "1000" })).toThrow(
      /ASR_WORKER_MAX_DOWN_MS .* must be at least ASR_WORKER_DOWN_MS/,
    );
    expect(() => loadConfig({ ASR_WORKER_MAX_LAG_MS: "0" })).toThrow(/ASR_WORKER_MAX_LAG_MS/);
  });

  it("parses durations", () => {
    expect(parseDurationMs("24h")).toBe(86_400_000);
    expect(parseDurationMs("500ms")).toBe(500);
    expect(() => parseDurationMs("soon")).toThrow();
  });

  it("reads the dashboards' settings, and masks SendGrid's key", () => {
    const config = loadConfig({
      SENDGRID_API_KEY: "SG.secret",
      ALERT_EMAIL_TO: "a@b.se",
    });
    expect(config.wall).toMatchObject({ flushIntervalMs: 16 });
    expect(config.wall.slowClient.softLimitBytes).toBeLessThan(config.wall.slowClient.dropPartialsBytes);
    expect(config.wall.alerts.email).toMatchObject({ apiUrl: "https://api.sendgrid.com", to: ["a@b.se"] });
    expect(JSON.stringify(describeConfig(config))).not.toContain("SG.secret");
    expect(() => loadConfig({ ALERT_NEGATIVE_SENTIMENT: "very" })).toThrow(/ALERT_NEGATIVE_SENTIMENT/);
  });

  it("keeps a generated token secret beside the embedded database, so a restarted node accepts its tokens", () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), "parley-secret-"));
    try {
      const env = { PARLEY_DATA_DIR: path.join(folder, "pglite") };
      const first = keepGeneratedSecret(loadConfig(env));
      const file = path.join(folder, "jwt-secret");
      expect(first.jwtSecretKept).toBe(file);
      expect(readFileSync(file, "utf8").trim()).toBe(first.jwtSecret);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      // The next start generates another, and takes the kept one instead.
      const restarted = keepGeneratedSecret(loadConfig(env));
      expect(restarted.jwtSecret).toBe(first.jwtSecret);
      expect(JSON.stringify(describeConfig(restarted))).not.toContain(first.jwtSecret);
      // A deployment's secret, or a deployment's database: nothing kept, nothing read.
      const given = "given-secret-given-secret-given-secret";
      expect(keepGeneratedSecret(loadConfig({ ...env, JWT_SECRET: given })).jwtSecret).toBe(given);
      const shared = keepGeneratedSecret(loadConfig({ ...env, DATABASE_URL: "postgres://db/parley" }));
      expect(shared.jwtSecret).not.toBe(first.jwtSecret);
      expect(shared.jwtSecretKept).toBeUndefined();
      // A damaged file stops the node with its name rather than signing with it.
      writeFileSync(file, "short\n");
      expect(() => keepGeneratedSecret(loadConfig(env))).toThrow(/jwt-secret/);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
