// The docker compose system, the Caddy proxy, the Dockerfiles and every shell
// script, checked with the real tools (no Docker engine runs here).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { ClientIpResolver } from "../../signaling/src/edge/ClientIpResolver.ts";
import { at, isRecord, REPO, readYaml, speechWorkerArgs, tool } from "./support.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "parley-compose-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const compose = (file: string, ...args: string[]) =>
  tool("docker-compose", ["--env-file", at("compose/.env.example"), "-f", file, ...args], { cwd: at("compose") });

interface Service {
  image?: string;
  build?: { dockerfile: string };
  profiles?: string[];
  ports?: { published?: number | string; target: number; protocol?: string }[];
  environment?: Record<string, string>;
  /** docker-compose 1.29 prints mounts in the short form: "source:target[:mode]". */
  volumes?: string[];
  user?: string;
  read_only?: boolean;
  cap_drop?: string[];
  stop_grace_period?: string;
  expose?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
}

interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

/** A service's mounts: bind mounts have an absolute source, named volumes a name. */
const mounts = (service: Service | undefined): Mount[] =>
  (service?.volumes ?? []).map((v) => {
    const [source = "", target = "", mode = "rw"] = v.split(":");
    return { source, target, readOnly: mode.split(",").includes("ro") };
  });

/** The whole system, as docker-compose resolves it with every profile. */
const resolved = () => {
  const r = compose(
    at("compose/docker-compose.yml"),
    "--profile",
    "ollama",
    "--profile",
    "gpu",
    "--profile",
    "tools",
    "config",
  );
  expect(r.status, r.stderr).toBe(0);
  return parseYaml(r.stdout) as {
    services: Record<string, Service>;
    networks?: Record<string, { ipam?: { config?: { subnet?: string }[] } }>;
  };
};

describe("docker compose", () => {
  const file = at("compose/docker-compose.yml");

  it("docker-compose config -q accepts it", () => {
    const r = compose(file, "config", "-q");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("docker-compose config rejects an unknown key (the check has teeth)", () => {
    const broken = path.join(at("compose"), `.broken-${process.pid}.yml`);
    fs.writeFileSync(
      broken,
      fs.readFileSync(file, "utf8").replace("    stop_grace_period: 6m", "    stop_grace_perod: 6m"),
    );
    try {
      const r = compose(broken, "config", "-q");
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain("stop_grace_perod");
    } finally {
      fs.rmSync(broken);
    }
  });

  it("runs every part of the system", () => {
    const { services } = resolved();
    expect(Object.keys(services).sort()).toEqual(
      [
        "alertmanager",
        "asr-cpu-1",
        "asr-cpu-2",
        "asr-gpu",
        "backup",
        "grafana",
        "node",
        "node-exporter",
        "ollama",
        "ollama-pull",
        "postgres",
        "postgres-exporter",
        "prometheus",
        "proxy",
        "redis",
        "redis-exporter",
      ].sort(),
    );
    expect(services.postgres?.image).toMatch(/^postgres:15/);
    expect(services.redis?.image).toMatch(/^redis:7/);
    expect(services.ollama?.profiles).toEqual(["ollama"]);
    expect(services["ollama-pull"]?.profiles).toEqual(["ollama"]);
    expect(services["asr-gpu"]?.profiles).toEqual(["gpu"]);
    // The default set needs no profile.
    for (const name of ["node", "asr-cpu-1", "postgres", "redis", "prometheus", "alertmanager", "grafana", "proxy"])
      expect(services[name]?.profiles, name).toBeUndefined();
  });

  it("publishes the node's whole UDP range one to one and announces the host's address", () => {
    const node = resolved().services.node as Service;
    const env = node.environment ?? {};
    const min = Number(env.MEDIASOUP_RTC_MIN_PORT);
    const max = Number(env.MEDIASOUP_RTC_MAX_PORT);
    const udp = (node.ports ?? []).filter((p) => p.protocol === "udp");
    expect(udp.length).toBe(max - min + 1);
    expect(udp.every((p) => Number(p.published) === p.target && p.target >= min && p.target <= max)).toBe(true);
    expect(env.MEDIASOUP_LISTEN_IP).toBe("0.0.0.0");
    expect(env.MEDIASOUP_ANNOUNCED_ADDRESS).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    // No TCP port of the node is published: HTTP goes through the proxy.
    expect((node.ports ?? []).filter((p) => p.protocol !== "udp")).toEqual([]);
    // Two ports per conversation (a WebRTC transport each way): the range holds NODE_MAX_SESSIONS.
    expect((max - min + 1) / 2).toBeGreaterThanOrEqual(Number(env.NODE_MAX_SESSIONS));
    // A stop waits out the drain and the last records' writes.
    expect(node.stop_grace_period).toBe("6m");
    expect(6 * 60).toBeGreaterThanOrEqual(Number(env.DRAIN_TIMEOUT_MS) / 1000 + 10);
    expect(env.FRONTEND_URL).toBe("https://localhost");
  });

  it("names each speech worker in ASR_WORKERS, and only variables the node reads", () => {
    const { services } = resolved();
    const env = services.node?.environment ?? {};
    expect(env.ASR_WORKERS?.split(",").map((a) => a.split(":")[0])).toEqual(["asr-cpu-1", "asr-cpu-2"]);
    const configTs = fs.readFileSync(path.join(REPO, "signaling/src/config.ts"), "utf8");
    const reads = (n: string) => configTs.includes(`env.${n}`) || configTs.includes(`"${n}"`);
    // The deployment guide's Stripe Connect client id (account links need none), and Node's own.
    const notParleys = new Set(["STRIPE_CONNECT_CLIENT_ID", "NODE_OPTIONS"]);
    expect(Object.keys(env).filter((n) => !reads(n) && !notParleys.has(n))).toEqual([]);
  });

  it("trusts X-Forwarded-For from the proxy's network only (TRUSTED_PROXIES)", () => {
    const { services, networks } = resolved();
    // Every service is on the default network, whose subnet is fixed.
    const subnet = networks?.default?.ipam?.config?.[0]?.subnet ?? "";
    expect(subnet).toMatch(/^\d+\.\d+\.\d+\.\d+\/\d+$/);
    expect(services.node?.environment?.TRUSTED_PROXIES).toBe(subnet);
    // As the node parses it: the proxy's address (any on the subnet) is trusted, a customer's is not.
    const resolver = new ClientIpResolver(subnet.split(","));
    const proxy = subnet.replace(/\.\d+\/\d+$/, ".2");
    expect(resolver.isTrusted(proxy)).toBe(true);
    expect(resolver.resolve(proxy, "198.51.100.7")).toBe("198.51.100.7");
    expect(resolver.isTrusted("198.51.100.7")).toBe(false);
  });

  it("the node and every speech worker share ASR_AUTH_TOKEN, required in .env", () => {
    const { services } = resolved();
    const token = services.node?.environment?.ASR_AUTH_TOKEN;
    expect(token).toBeTruthy();
    for (const name of ["asr-cpu-1", "asr-cpu-2", "asr-gpu"])
      expect(services[name]?.environment?.ASR_AUTH_TOKEN, name).toBe(token);
    // Like the other secrets, compose refuses to start without it.
    const text = fs.readFileSync(at("compose/docker-compose.yml"), "utf8");
    expect(text.match(/ASR_AUTH_TOKEN: \$\{ASR_AUTH_TOKEN:\?/g)?.length).toBe(3);
  });

  it("serves /ready and /metrics on the internal port: healthcheck and Prometheus use it, nothing publishes it", () => {
    const node = resolved().services.node as Service;
    const env = node.environment ?? {};
    const internal = Number(env.INTERNAL_PORT);
    expect(internal).toBeGreaterThan(0);
    expect(internal).not.toBe(Number(env.PORT));
    // Listening beyond the container's loopback, so that Prometheus on the compose network reaches it.
    expect(env.INTERNAL_HOST).toBe("0.0.0.0");
    expect(node.healthcheck?.test.join(" ")).toContain(`http://127.0.0.1:${internal}/ready`);
    expect((node.ports ?? []).map((p) => p.target)).not.toContain(internal);
    const prometheus = readYaml(at("prometheus/prometheus.yml")) as {
      scrape_configs: {
        job_name: string;
        metrics_path?: string;
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
    };
    const job = prometheus.scrape_configs.find((j) => j.job_name === "parley-node");
    expect(job?.metrics_path).toBe("/metrics");
    expect(job?.dns_sd_configs).toEqual([expect.objectContaining({ names: ["node"], port: internal })]);
  });

  it("mounts configuration files that exist, and runs hardened", () => {
    const { services } = resolved();
    const binds = Object.entries(services).flatMap(([name, s]) =>
      mounts(s)
        .filter((m) => m.source.startsWith("/"))
        .map((m) => ({ name, ...m })),
    );
    // The check sees the configuration files (it would miss none of them).
    expect(binds.map((b) => b.target)).toEqual(
      expect.arrayContaining(["/etc/caddy/Caddyfile", "/etc/prometheus/prometheus.yml", "/opt/parley"]),
    );
    const missing = binds
      .filter((b) => b.source.startsWith(path.dirname(at(""))) && !b.source.includes("/secrets/"))
      .filter((b) => !b.source.endsWith("/backups") && !b.source.endsWith("/models/whisper"))
      .filter((b) => !fs.existsSync(b.source))
      .map((b) => `${b.name}: ${b.source}`);
    // Configuration is mounted read-only.
    expect(binds.filter((b) => /\.(yml|yaml|conf)$|Caddyfile$/.test(b.source) && !b.readOnly)).toEqual([]);
    expect(missing).toEqual([]);
    for (const name of ["node", "asr-cpu-1", "asr-gpu"]) {
      expect(services[name]?.read_only, name).toBe(true);
      expect(services[name]?.cap_drop, name).toEqual(["ALL"]);
    }
  });
});

describe("the proxy (Caddy)", () => {
  it("caddy validates the Caddyfile; /ws and the rest reach the node, /metrics and /ready do not", () => {
    const home = path.join(tmp, "caddy");
    const env = { ...process.env, HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home, PARLEY_DOMAIN: "localhost" };
    const r = tool("caddy", ["adapt", "--config", at("compose/Caddyfile"), "--adapter", "caddyfile", "--validate"], {
      env,
    });
    expect(r.status, r.stderr).toBe(0);
    // Each route of the adapted JSON: the paths it matches and what it does.
    const routes: { paths: string[]; handle: string }[] = [];
    const walk = (value: unknown): void => {
      if (Array.isArray(value)) value.forEach(walk);
      else if (isRecord(value)) {
        if (Array.isArray(value.match) && value.handle) {
          const paths = (value.match as { path?: string[] }[]).flatMap((m) => m.path ?? []);
          routes.push({ paths, handle: JSON.stringify(value.handle) });
        }
        Object.values(value).forEach(walk);
      }
    };
    walk(JSON.parse(r.stdout));
    const route = (p: string) => routes.find((x) => x.paths.includes(p))?.handle ?? "";
    // Both WebSocket endpoints, outside the catch-all's compression.
    for (const ws of ["/ws", "/wall/ws"]) {
      expect(route(ws), ws).toContain('"dial":"node:8080"');
      expect(route(ws), ws).not.toContain('"encode"');
    }
    for (const internal of ["/metrics", "/ready"]) {
      expect(route(internal)).toContain('"handler":"static_response","status_code":404');
      expect(route(internal)).not.toContain("node:");
    }
    // No route reaches the node's internal listener.
    expect(routes.filter((r) => r.handle.includes("node:9464"))).toEqual([]);
    expect(route("/grafana*")).toContain('"dial":"grafana:3000"');
  });
});

describe("Dockerfiles", () => {
  const images = {
    node: { base: /^node:20-bookworm/, runtime: /bookworm-slim/ },
    "asr-cpu": { base: /^python:3\.11-slim-bookworm/, runtime: /bookworm/ },
    "asr-gpu": { base: /^nvidia\/cuda:/, runtime: /nvidia\/cuda/ },
  } as const;

  it.each(Object.entries(images))(
    "%s: multi-stage, non-root, tini, its base, and every COPY source exists",
    (name, { base }) => {
      const file = at(`docker/${name}.Dockerfile`);
      const text = fs.readFileSync(file, "utf8");
      const args = Object.fromEntries([...text.matchAll(/^ARG (\w+)=(\S+)/gm)].map((m) => [m[1], m[2]]));
      const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) =>
        (m[1] ?? "").replace(/^\$\{(\w+)\}$/, (_, a) => args[a] ?? a),
      );
      expect(froms.length).toBeGreaterThanOrEqual(2);
      expect(froms[0]).toMatch(base);
      const finalStage = text.slice(text.lastIndexOf("\nFROM "));
      expect(finalStage).toMatch(/^USER 10001:10001$/m);
      expect(finalStage).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"/m);
      expect(finalStage).toMatch(/^HEALTHCHECK /m);
      const sources = [...text.matchAll(/^COPY (?!--from)(?:--\S+ )*(.+) \S+$/gm)].flatMap((m) =>
        (m[1] ?? "").split(" "),
      );
      expect(sources.length).toBeGreaterThan(0);
      expect(sources.filter((s) => s !== "." && !fs.existsSync(path.join(REPO, s)))).toEqual([]);
      expect(fs.existsSync(`${file}.dockerignore`)).toBe(true);
    },
  );

  it("the GPU image runs the Whisper engine on CUDA, with its pinned packages and the model from WHISPER_MODEL_PATH", () => {
    const text = fs.readFileSync(at("docker/asr-gpu.Dockerfile"), "utf8");
    const json = (instruction: string) =>
      JSON.parse(new RegExp(`^${instruction} (\\[.*\\])$`, "m").exec(text)?.[1] ?? "[]") as string[];
    const entrypoint = json("ENTRYPOINT");
    expect(entrypoint.slice(0, 5)).toEqual(["/usr/bin/tini", "--", "python", "-m", "parley_asr"]);
    const modelPath = /WHISPER_MODEL_PATH=(\S+)/.exec(text)?.[1];
    expect(modelPath).toBe("/models/whisper");
    // The worker's own parser, on the image's command line.
    const args = speechWorkerArgs([...entrypoint.slice(5), ...json("CMD")], { WHISPER_MODEL_PATH: modelPath ?? "" });
    expect(args).toMatchObject({ engine: "whisper", device: "cuda", model_path: modelPath, host: "0.0.0.0" });
    // A worker whose model stays stuck exits (--stuck-exit, on by default): compose starts it again.
    expect(args.stuck_exit).toBeGreaterThan(0);
    expect(resolved().services["asr-gpu"]?.restart).toBe("unless-stopped");
    // The Whisper pins installed with --no-deps, torch replaced by the CUDA build.
    expect(text).toContain("requirements-whisper.txt");
    expect(text).toMatch(/grep -v '\^torch==' \/tmp\/requirements-whisper\.txt/);
    expect(text).toMatch(/--index-url "\$\{TORCH_INDEX_URL\}" "torch==\$\{TORCH_VERSION\}"/);
    // Compose mounts the model, read-only, where the image looks for it.
    const gpu = resolved().services["asr-gpu"];
    expect(mounts(gpu).find((m) => m.target === modelPath)?.readOnly).toBe(true);
    expect(gpu?.environment?.WHISPER_MODEL_PATH ?? modelPath).toBe(modelPath);
  });

  it("the node image builds, copies and points the node at every app it serves", () => {
    const text = fs.readFileSync(at("docker/node.Dockerfile"), "utf8");
    const configTs = fs.readFileSync(path.join(REPO, "signaling/src/config.ts"), "utf8");
    for (const [app, variable] of [
      ["client", "CLIENT_DIST_DIR"],
      ["dashboard", "DASHBOARD_DIST_DIR"],
    ] as const) {
      expect(configTs, variable).toContain(`env.${variable}`);
      expect(text, app).toContain(`pnpm --filter @parley/${app} build`);
      expect(text, app).toMatch(new RegExp(`^COPY --from=build /src/${app}/dist /app/${app}/dist$`, "m"));
      expect(text, app).toMatch(new RegExp(`^\\s+${variable}=/app/${app}/dist`, "m"));
    }
  });

  it("the node image keeps every workspace package's manifest in its build context", () => {
    const ignore = fs.readFileSync(at("docker/node.Dockerfile.dockerignore"), "utf8").split("\n");
    const workspace = parseYaml(fs.readFileSync(path.join(REPO, "pnpm-workspace.yaml"), "utf8")) as {
      packages: string[];
    };
    for (const pkg of workspace.packages) {
      const excluded =
        ignore.includes(pkg) || (ignore.includes(`${pkg}/*`) && !ignore.includes(`!${pkg}/package.json`));
      expect(excluded, pkg).toBe(false);
    }
  });
});

describe("shell scripts", () => {
  it("shellcheck finds nothing in any script of the repository", () => {
    const scripts = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.sh"], {
      cwd: REPO,
      encoding: "utf8",
    })
      .split("\n")
      .filter(Boolean);
    expect(scripts).toEqual(expect.arrayContaining(["deploy/backup/pg-backup.sh", "deploy/backup/pg-restore.sh"]));
    const r = tool("shellcheck", ["--external-sources", ...scripts], { cwd: REPO });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("shellcheck reports a real mistake (it has teeth)", () => {
    const file = path.join(tmp, "bad.sh");
    fs.writeFileSync(file, "#!/usr/bin/env bash\nrm -rf $1/*\n");
    expect(tool("shellcheck", [file]).status).not.toBe(0);
  });
});
