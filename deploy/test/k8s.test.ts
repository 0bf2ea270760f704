// The Kubernetes manifests, without an API server: every object validated by
// kubernetes-models against the API's schema and type-checked against its
// TypeScript model (the schema accepts unknown fields; a misspelt field name
// fails the type check), Pod Security "restricted" checked pod by pod, and
// the manifests cross-checked with each other and with the node's config.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientIpResolver } from "../../signaling/src/edge/ClientIpResolver.ts";
import {
  at,
  DEPLOY,
  filesUnder,
  isRecord,
  REPO,
  readYaml,
  readYamlDocuments,
  speechWorkerArgs,
  tool,
} from "./support.ts";

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  [key: string]: unknown;
}

interface Loaded {
  file: string;
  object: K8sObject;
}

const MANIFESTS = [
  ...filesUnder(at("k8s"), ".yaml").filter((f) => !f.endsWith(path.join("prometheus-adapter", "config.yaml"))),
];
const all: Loaded[] = MANIFESTS.flatMap((file) =>
  readYamlDocuments(file).map((object) => ({ file: path.relative(DEPLOY, file), object: object as K8sObject })),
);
const find = (kind: string, name: string, namespace?: string) =>
  all.find(
    (l) =>
      l.object.kind === kind &&
      l.object.metadata.name === name &&
      (!namespace || l.object.metadata.namespace === namespace),
  )?.object;
const modelPath = (o: K8sObject) => `kubernetes-models/${o.apiVersion}/${o.kind}`;

describe("Kubernetes objects", () => {
  it("every object validates against its API schema (kubernetes-models)", async () => {
    expect(all.length).toBeGreaterThan(40);
    const failures: string[] = [];
    for (const { file, object } of all) {
      const module = (await import(modelPath(object))) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = module[object.kind];
      if (!Model) throw new Error(`${file}: no model for ${object.apiVersion} ${object.kind}`);
      try {
        new Model(object).validate();
      } catch (error) {
        failures.push(`${file} ${object.kind}/${object.metadata.name}: ${(error as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it("the schema validation rejects a wrong type (it has teeth)", async () => {
    const broken = structuredClone(find("Deployment", "parley-node")) as K8sObject;
    (broken.spec as { replicas: unknown }).replicas = "two";
    const module = (await import(modelPath(broken))) as Record<string, new (data: unknown) => { validate(): void }>;
    const Deployment = module.Deployment as new (data: unknown) => { validate(): void };
    expect(() => new Deployment(broken).validate()).toThrow();
  });

  describe("no unknown or misspelt field (TypeScript's excess property check)", () => {
    // Inside deploy/node_modules so that kubernetes-models resolves; git ignores it.
    const dir = path.join(DEPLOY, "node_modules", ".cache", `k8s-typecheck-${process.pid}`);
    beforeAll(() => fs.mkdirSync(dir, { recursive: true }));
    afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

    const typecheck = (objects: K8sObject[]) => {
      const lines = objects.map(
        (o, i) =>
          `import type { I${o.kind} as T${i} } from "${modelPath(o)}";\nexport const o${i}: T${i} = ${JSON.stringify(o)};`,
      );
      fs.writeFileSync(path.join(dir, "objects.ts"), `${lines.join("\n")}\n`);
      fs.writeFileSync(
        path.join(dir, "tsconfig.json"),
        JSON.stringify({
          compilerOptions: {
            strict: true,
            noEmit: true,
            module: "NodeNext",
            moduleResolution: "NodeNext",
            skipLibCheck: true,
          },
          files: ["objects.ts"],
        }),
      );
      return tool(path.join(REPO, "node_modules", ".bin", "tsc"), ["-p", dir]);
    };

    it("every object type-checks against its model", () => {
      const r = typecheck(all.map((l) => l.object));
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
    });

    it("a misspelt probe field fails the check", () => {
      const broken = structuredClone(find("Deployment", "parley-node")) as K8sObject;
      const container = (broken.spec as { template: { spec: { containers: Record<string, unknown>[] } } }).template.spec
        .containers[0] as Record<string, unknown>;
      container.livenesProbe = container.livenessProbe;
      delete container.livenessProbe;
      const r = typecheck([broken]);
      expect(r.status).not.toBe(0);
      expect(r.stdout).toContain("livenesProbe");
    });
  });
});

interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { containerPort: number; hostPort?: number }[];
  securityContext?: {
    runAsNonRoot?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
}

interface Probe {
  httpGet?: { path: string; port: number };
  exec?: { command: string[] };
  tcpSocket?: { port: number };
  timeoutSeconds?: number;
}

interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
  initContainers?: Container[];
  containers: Container[];
  volumes?: Record<string, unknown>[];
  terminationGracePeriodSeconds?: number;
  restartPolicy?: string;
}

/** Every pod template, with the namespace it runs in. */
function pods(): { where: string; namespace: string; spec: PodSpec; labels: Record<string, string> }[] {
  return all.flatMap(({ file, object }) => {
    const spec = object.spec as Record<string, unknown> | undefined;
    let template: { metadata?: { labels?: Record<string, string> }; spec: PodSpec } | undefined;
    if (["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(object.kind))
      template = spec?.template as typeof template;
    if (object.kind === "CronJob")
      template = ((spec?.jobTemplate as { spec: { template: typeof template } }) ?? undefined)?.spec.template;
    if (!template) return [];
    return [
      {
        where: `${file} ${object.kind}/${object.metadata.name}`,
        namespace: object.metadata.namespace ?? "",
        spec: template.spec,
        labels: template.metadata?.labels ?? {},
      },
    ];
  });
}

/** The checks of Pod Security Standards' "restricted" profile that a manifest can show. */
function restrictedViolations(spec: PodSpec, allowHostNetwork: boolean): string[] {
  const v: string[] = [];
  if (spec.hostNetwork && !allowHostNetwork) v.push("hostNetwork");
  if (spec.hostPID) v.push("hostPID");
  if (spec.hostIPC) v.push("hostIPC");
  const allowedVolumes = ["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim"];
  for (const volume of spec.volumes ?? []) {
    const kind = Object.keys(volume).find((k) => k !== "name");
    if (kind && ![...allowedVolumes, "projected", "secret"].includes(kind)) v.push(`volume type ${kind}`);
  }
  const podSeccomp = spec.securityContext?.seccompProfile?.type;
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) v.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${c.name}: allowPrivilegeEscalation not false`);
    if (!(sc.runAsNonRoot ?? spec.securityContext?.runAsNonRoot)) v.push(`${c.name}: runAsNonRoot not set`);
    if (spec.securityContext?.runAsUser === 0) v.push(`${c.name}: runAsUser 0`);
    if (!sc.capabilities?.drop?.includes("ALL")) v.push(`${c.name}: capabilities not dropped`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== "NET_BIND_SERVICE") v.push(`${c.name}: adds ${cap}`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") v.push(`${c.name}: seccomp ${seccomp}`);
    if (!allowHostNetwork) for (const p of c.ports ?? []) if (p.hostPort) v.push(`${c.name}: hostPort ${p.hostPort}`);
  }
  return v;
}

describe("Pod Security", () => {
  const levels = new Map(
    all
      .filter((l) => l.object.kind === "Namespace")
      .map((l) => [l.object.metadata.name, l.object.metadata.labels?.["pod-security.kubernetes.io/enforce"]]),
  );

  it("parley and parley-monitoring enforce restricted; parley-edge warns and audits at it", () => {
    expect(levels.get("parley")).toBe("restricted");
    expect(levels.get("parley-monitoring")).toBe("restricted");
    expect(levels.get("parley-edge")).toBe("privileged");
    const edge = find("Namespace", "parley-edge");
    expect(edge?.metadata.labels?.["pod-security.kubernetes.io/warn"]).toBe("restricted");
    expect(edge?.metadata.labels?.["pod-security.kubernetes.io/audit"]).toBe("restricted");
  });

  it("every pod meets restricted; the node departs from it only by the host's network", () => {
    const found = pods();
    expect(found.length).toBeGreaterThan(8);
    const violations = found.flatMap((p) => {
      expect(levels.has(p.namespace), `${p.where} in an unknown namespace`).toBe(true);
      const edge = levels.get(p.namespace) === "privileged";
      return restrictedViolations(p.spec, edge).map((v) => `${p.where}: ${v}`);
    });
    expect(violations).toEqual([]);
    const edgePods = found.filter((p) => p.namespace === "parley-edge").map((p) => p.where);
    expect(edgePods).toEqual(["k8s/node.yaml Deployment/parley-node"]);
  });

  it("the restricted check finds a root container (it has teeth)", () => {
    const spec = structuredClone(pods().find((p) => p.where.includes("asr-cpu"))?.spec) as PodSpec;
    delete spec.securityContext?.runAsNonRoot;
    spec.hostNetwork = true;
    expect(restrictedViolations(spec, false)).toEqual(
      expect.arrayContaining(["hostNetwork", "asr: runAsNonRoot not set"]),
    );
  });
});

describe("the node", () => {
  const deployment = find("Deployment", "parley-node", "parley-edge") as K8sObject;
  const pod = (deployment.spec as { template: { spec: PodSpec } }).template.spec;
  const node = pod.containers.find((c) => c.name === "node") as Container;

  const config = () => find("ConfigMap", "parley-node", "parley-edge")?.data ?? {};

  it("is probed on /health (public port) and /ready (internal port) and outlives a conversation when stopped", () => {
    expect(node.livenessProbe?.httpGet).toEqual({ path: "/health", port: Number(config().PORT) });
    expect(node.readinessProbe?.httpGet).toEqual({ path: "/ready", port: Number(config().INTERNAL_PORT) });
    // A stop waits out the drain (which outlasts a conversation) and the last records' writes.
    expect(Number(config().DRAIN_TIMEOUT_MS)).toBeGreaterThanOrEqual(300_000 + 30_000);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(Number(config().DRAIN_TIMEOUT_MS) / 1000 + 10);
    // Two UDP ports per conversation (a WebRTC transport each way).
    const ports = Number(config().MEDIASOUP_RTC_MAX_PORT) - Number(config().MEDIASOUP_RTC_MIN_PORT) + 1;
    expect(ports / 2).toBeGreaterThanOrEqual(Number(config().NODE_MAX_SESSIONS ?? 200));
  });

  it("serves /ready and /metrics on the internal port: probed and scraped there, carried by no Service or Ingress", () => {
    const internal = Number(config().INTERNAL_PORT);
    expect(internal).toBeGreaterThan(0);
    expect(internal).not.toBe(Number(config().PORT));
    // The kubelet and Prometheus reach the pod at the Kubernetes node's address, not its loopback.
    expect(config().INTERNAL_HOST).toBe("0.0.0.0");
    expect(node.ports?.map((p) => p.containerPort)).toContain(internal);
    const annotations = (deployment.spec as { template: { metadata: { annotations: Record<string, string> } } })
      .template.metadata.annotations;
    expect(annotations["prometheus.io/scrape"]).toBe("true");
    expect(annotations["prometheus.io/path"]).toBe("/metrics");
    expect(Number(annotations["prometheus.io/port"])).toBe(internal);
    // Prometheus takes the scrape port from that annotation.
    const prometheus = readYaml(at("prometheus/prometheus-k8s.yml")) as {
      scrape_configs: { job_name: string; relabel_configs?: { source_labels?: string[]; target_label?: string }[] }[];
    };
    const relabel = prometheus.scrape_configs.find((j) => j.job_name === "kubernetes-pods")?.relabel_configs ?? [];
    expect(relabel.find((r) => r.target_label === "__address__")?.source_labels).toContain(
      "__meta_kubernetes_pod_annotation_prometheus_io_port",
    );
    // Neither the Service nor the Ingress leads to it.
    const service = find("Service", "parley-node", "parley-edge")?.spec as {
      ports: { port: number; targetPort?: number | string }[];
    };
    expect(service.ports.flatMap((p) => [p.port, p.targetPort])).not.toContain(internal);
    expect(service.ports.map((p) => p.targetPort)).not.toContain("internal");
    const ingressPorts = JSON.stringify(find("Ingress", "parley", "parley-edge")?.spec).match(/"number":\d+/g) ?? [];
    expect(ingressPorts).not.toContain(`"number":${internal}`);
    // Prometheus may reach it (the node is on the media nodes' network), and not the public port.
    const policy = find("NetworkPolicy", "prometheus", "parley-monitoring")?.spec as {
      egress: { to?: { ipBlock?: { cidr: string } }[]; ports?: { port: number }[] }[];
    };
    const toNodes = policy.egress.filter((e) => e.to?.some((t) => t.ipBlock)).flatMap((e) => e.ports ?? []);
    expect(toNodes.map((p) => p.port)).toContain(internal);
    expect(toNodes.map((p) => p.port)).not.toContain(Number(config().PORT));
  });

  it("owns the host's network and announces the node's address, one pod per Kubernetes node", () => {
    expect(pod.hostNetwork).toBe(true);
    expect(node.command?.join(" ")).toContain('MEDIASOUP_ANNOUNCED_ADDRESS="$(cat /run/parley/announced-address)"');
    expect(pod.initContainers?.[0]?.command?.join(" ")).toContain("/run/parley/announced-address");
    const anti = JSON.stringify((pod as { affinity?: unknown }).affinity);
    expect(anti).toContain("requiredDuringSchedulingIgnoredDuringExecution");
    expect(anti).toContain("kubernetes.io/hostname");
  });

  it("reads only variables the node knows, from objects that exist", () => {
    const configTs = fs.readFileSync(path.join(REPO, "signaling/src/config.ts"), "utf8");
    // Names of the deployment guide that features in progress read (records, rewards, the Redis bus),
    // and Node's own NODE_OPTIONS.
    const upcoming = [
      "DATABASE_URL",
      "REDIS_URL",
      "STRIPE_SECRET_KEY",
      "STRIPE_WEBHOOK_SECRET",
      "STRIPE_CONNECT_CLIENT_ID",
      "DATA_RETENTION_DAYS",
      "VOICE_DATA_RETENTION_HOURS",
      "ENABLE_FRAUD_DETECTION",
      "NODE_OPTIONS",
    ];
    const config = find("ConfigMap", "parley-node", "parley-edge");
    const secret = find("Secret", "parley-secrets", "parley-edge");
    expect(node.envFrom).toEqual([
      { configMapRef: { name: "parley-node" } },
      { secretRef: { name: "parley-secrets" } },
    ]);
    const names = [...Object.keys(config?.data ?? {}), ...Object.keys(secret?.stringData ?? {})];
    const reads = (n: string) => configTs.includes(`env.${n}`) || configTs.includes(`"${n}"`);
    const unknown = names.filter((n) => !reads(n) && !upcoming.includes(n));
    expect(unknown).toEqual([]);
    expect(Number(config?.data?.MEDIASOUP_RTC_MIN_PORT)).toBeLessThan(Number(config?.data?.MEDIASOUP_RTC_MAX_PORT));
  });

  it("trusts X-Forwarded-For from the ingress controller's pods (TRUSTED_PROXIES)", () => {
    const trusted = (config().TRUSTED_PROXIES ?? "").split(",").filter(Boolean);
    expect(trusted.length).toBeGreaterThan(0);
    // Each entry a CIDR block (a pod network), as the node parses it.
    for (const entry of trusted) expect(entry).toMatch(/\/\d+$/);
    const resolver = new ClientIpResolver(trusted);
    expect(resolver.isTrusted("198.51.100.7")).toBe(false);
    const controller = (trusted[0] ?? "").replace(/\.\d+\/\d+$/, ".5");
    expect(resolver.resolve(controller, "198.51.100.7")).toBe("198.51.100.7");
  });

  it("the node and every speech worker share ASR_AUTH_TOKEN", () => {
    expect(find("Secret", "parley-secrets", "parley-edge")?.stringData?.ASR_AUTH_TOKEN).toBeTruthy();
    for (const name of ["asr-cpu", "asr-gpu"]) {
      const sts = find("StatefulSet", name, "parley") as K8sObject;
      const container = (sts.spec as { template: { spec: PodSpec } }).template.spec.containers[0];
      const env = container?.env?.find((e) => e.name === "ASR_AUTH_TOKEN");
      // The key exists in the Secret: "every ConfigMap, Secret key ... is defined" below.
      expect(env?.valueFrom?.secretKeyRef, name).toEqual({ name: "asr-auth", key: "ASR_AUTH_TOKEN" });
    }
  });

  it("keeps every speech worker alive only while its Python answers, not while its port merely accepts", () => {
    for (const name of ["asr-cpu", "asr-gpu"]) {
      const sts = find("StatefulSet", name, "parley") as K8sObject;
      const container = (sts.spec as { template: { spec: PodSpec } }).template.spec.containers[0]!;
      const command = container.livenessProbe?.exec?.command ?? [];
      expect(command.slice(0, 3), name).toEqual(["python", "-m", "parley_asr.probe"]);
      expect(command[command.indexOf("--port") + 1], name).toBe("50051");
      // The probe's own wait fits in the kubelet's (its default, 1 s, would kill a healthy worker).
      const probeTimeoutS = Number(command[command.indexOf("--timeout") + 1]);
      expect(container.livenessProbe?.timeoutSeconds ?? 1, name).toBeGreaterThan(probeTimeoutS);
    }
  });

  it("pulls our images from our registry at a version, never latest", () => {
    const kustomization = readYaml(at("kustomization.yaml")) as {
      images: { name: string; newName?: string; newTag?: string }[];
    };
    const images = new Map(kustomization.images.map((i) => [i.name, i]));
    for (const name of ["parley/node", "parley/asr-cpu"]) {
      const image = images.get(name);
      expect(image?.newName, name).toMatch(/^[a-z0-9.-]+\.[a-z]+(:\d+)?\//);
      expect(image?.newTag, name).toMatch(/^\d+\.\d+\.\d+/);
    }
    const parleyImages = pods().flatMap((p) =>
      [...(p.spec.initContainers ?? []), ...p.spec.containers].map((c) => ({ where: p.where, image: c.image })),
    );
    expect(parleyImages.filter((i) => i.image.endsWith(":latest"))).toEqual([]);
    expect(parleyImages.filter((i) => /bitnami\//.test(i.image))).toEqual([]);
  });

  it("lists exactly the speech-worker StatefulSet's pods in ASR_WORKERS", () => {
    const sts = find("StatefulSet", "asr-cpu", "parley") as K8sObject;
    const { replicas, serviceName } = sts.spec as { replicas: number; serviceName: string };
    const expected = Array.from(
      { length: replicas },
      (_, i) => `asr-cpu-${i}.${serviceName}.parley.svc.cluster.local:50051`,
    ).join(",");
    expect(find("ConfigMap", "parley-node")?.data?.ASR_WORKERS).toBe(expected);
    expect(find("Service", serviceName, "parley")?.spec?.clusterIP).toBe("None");
  });

  it("scales on live sessions per pod, CPU and memory (the guide's 80 %), from 3 pods, slowly down", () => {
    const hpa = find("HorizontalPodAutoscaler", "parley-node", "parley-edge") as K8sObject;
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    const spec = hpa.spec as {
      scaleTargetRef: { kind: string; name: string };
      minReplicas: number;
      metrics: { type: string; resource?: { name: string; target: { averageUtilization?: number } } }[];
      behavior: { scaleDown: { stabilizationWindowSeconds: number } };
    };
    expect(spec.scaleTargetRef).toMatchObject({ kind: "Deployment", name: "parley-node" });
    expect(spec.minReplicas).toBe(3);
    expect((deployment.spec as { replicas: number }).replicas).toBe(spec.minReplicas);
    expect(spec.metrics.map((m) => m.type)).toEqual(["Pods", "Resource", "Resource"]);
    expect(spec.metrics[1]?.resource?.name).toBe("cpu");
    expect(spec.metrics[2]?.resource).toEqual({
      name: "memory",
      target: { type: "Utilization", averageUtilization: 80 },
    });
    expect(spec.behavior.scaleDown.stabilizationWindowSeconds).toBeGreaterThanOrEqual(300);
  });
});

describe("GPU speech workers (optional)", () => {
  const sts = find("StatefulSet", "asr-gpu", "parley") as K8sObject;
  const pod = (sts.spec as { template: { spec: PodSpec } }).template.spec;
  const asr = pod.containers[0] as Container & {
    volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
    resources: { limits: Record<string, string> };
  };

  it("run the Whisper engine on a GPU, the model read-only from WHISPER_MODEL_PATH", () => {
    const dockerfile = fs.readFileSync(at("docker/asr-gpu.Dockerfile"), "utf8");
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? "[]") as string[];
    const modelPath = asr.env?.find((e) => e.name === "WHISPER_MODEL_PATH")?.value ?? "";
    // The image's entrypoint with these args, through the worker's own parser.
    const args = (asr.args ?? []).map((a) => a.replace("$(POD_NAME)", "asr-gpu-0"));
    const parsed = speechWorkerArgs([...entrypoint.slice(5), ...args], { WHISPER_MODEL_PATH: modelPath });
    expect(parsed).toMatchObject({ engine: "whisper", device: "cuda", model_path: "/models/whisper", port: 50051 });
    const mount = asr.volumeMounts.find((m) => m.mountPath === modelPath);
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes?.find((v) => v.name === mount?.name) as {
      persistentVolumeClaim?: { readOnly?: boolean };
    };
    expect(volume.persistentVolumeClaim?.readOnly).toBe(true);
    expect(asr.resources.limits["nvidia.com/gpu"]).toBe("1");
  });

  it("start afresh a worker that exits because its model stays stuck (--stuck-exit, on by default)", () => {
    const dockerfile = fs.readFileSync(at("docker/asr-gpu.Dockerfile"), "utf8");
    const entrypoint = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1] ?? "[]") as string[];
    const args = (asr.args ?? []).map((a) => a.replace("$(POD_NAME)", "asr-gpu-0"));
    expect(speechWorkerArgs([...entrypoint.slice(5), ...args]).stuck_exit).toBeGreaterThan(0);
    expect(pod.restartPolicy).toBe("Always");
  });
});

describe("references between objects", () => {
  const kustomization = readYaml(at("kustomization.yaml")) as {
    resources: string[];
    configMapGenerator: { name: string; namespace: string; files: string[] }[];
  };
  const generated = new Set(kustomization.configMapGenerator.map((g) => `${g.namespace}/${g.name}`));

  it("the kustomization lists every manifest except the example Secrets and optional/, and its files exist", () => {
    const expected = MANIFESTS.map((f) => path.relative(DEPLOY, f))
      .filter((f) => !f.startsWith("k8s/optional/") && f !== "k8s/secrets.example.yaml")
      .sort();
    expect([...kustomization.resources].sort()).toEqual(expected);
    const files = kustomization.configMapGenerator.flatMap((g) => g.files.map((f) => f.split("=").pop() ?? f));
    expect(files.filter((f) => !fs.existsSync(at(f)))).toEqual([]);
    // Every provisioned dashboard is shipped to the cluster.
    const dashboards = kustomization.configMapGenerator.find((g) => g.name === "grafana-dashboards")?.files ?? [];
    expect(dashboards.sort()).toEqual(
      filesUnder(at("grafana/dashboards"), ".json")
        .map((f) => path.relative(DEPLOY, f))
        .sort(),
    );
  });

  it("every ConfigMap, Secret key, claim and service account a pod uses is defined", () => {
    const missing: string[] = [];
    const has = (kind: string, ns: string, name: string) =>
      !!find(kind, name, ns) ||
      (kind === "ConfigMap" && (generated.has(`${ns}/${name}`) || name === "kube-root-ca.crt"));
    for (const p of pods()) {
      const spec = p.spec as PodSpec & { serviceAccountName?: string };
      if (spec.serviceAccountName && !has("ServiceAccount", p.namespace, spec.serviceAccountName))
        missing.push(`${p.where}: ServiceAccount ${spec.serviceAccountName}`);
      for (const volume of spec.volumes ?? []) {
        const text = JSON.stringify(volume);
        for (const m of text.matchAll(/"configMap":\{[^}]*"name":"([^"]+)"/g))
          if (!has("ConfigMap", p.namespace, m[1] ?? "")) missing.push(`${p.where}: ConfigMap ${m[1]}`);
        for (const m of text.matchAll(/"secretName":"([^"]+)"/g))
          if (!has("Secret", p.namespace, m[1] ?? "")) missing.push(`${p.where}: Secret ${m[1]}`);
      }
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const e of c.envFrom ?? []) {
          if (e.configMapRef && !has("ConfigMap", p.namespace, e.configMapRef.name))
            missing.push(`${p.where}: ConfigMap ${e.configMapRef.name}`);
          if (e.secretRef && !has("Secret", p.namespace, e.secretRef.name))
            missing.push(`${p.where}: Secret ${e.secretRef.name}`);
        }
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          const secret = find("Secret", ref.name, p.namespace);
          // The restore target is created by hand when restoring (README).
          if (ref.name === "pg-restore-target") continue;
          if (!secret?.stringData || !(ref.key in secret.stringData))
            missing.push(`${p.where}: Secret ${ref.name} key ${ref.key}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it("every Service, PodDisruptionBudget and NetworkPolicy selects pods that exist", () => {
    const labelSets = pods().map((p) => ({ namespace: p.namespace, labels: p.labels }));
    const selects = (namespace: string, selector: Record<string, string>) =>
      labelSets.some((l) => l.namespace === namespace && Object.entries(selector).every(([k, v]) => l.labels[k] === v));
    const orphans: string[] = [];
    for (const { file, object } of all) {
      const ns = object.metadata.namespace ?? "";
      let selector: Record<string, string> | undefined;
      if (object.kind === "Service") selector = object.spec?.selector as Record<string, string> | undefined;
      if (object.kind === "PodDisruptionBudget" || object.kind === "NetworkPolicy") {
        const s = (object.spec?.selector ?? object.spec?.podSelector) as { matchLabels?: Record<string, string> };
        selector = s?.matchLabels;
      }
      if (selector && Object.keys(selector).length > 0 && !selects(ns, selector))
        orphans.push(`${file} ${object.kind}/${object.metadata.name}`);
    }
    expect(orphans).toEqual([]);
  });

  it("every namespace with pods of its own denies traffic by default", () => {
    for (const ns of ["parley", "parley-monitoring"]) {
      const deny = all.find(
        (l) =>
          l.object.kind === "NetworkPolicy" &&
          l.object.metadata.namespace === ns &&
          isRecord(l.object.spec?.podSelector) &&
          Object.keys(l.object.spec.podSelector).length === 0 &&
          !l.object.spec.ingress &&
          !l.object.spec.egress,
      );
      expect(deny?.object.spec?.policyTypes, ns).toEqual(["Ingress", "Egress"]);
    }
  });

  it("the heap limit is the one the NodeHeapNearLimit alert assumes, everywhere the node runs", () => {
    const rules = fs.readFileSync(at("prometheus/rules/parley.rules.yml"), "utf8");
    const alertMiB = Number(/nodejs_heap_size_used_bytes\{[^}]*\} > 0\.85 \* (\d+) \* 1024 \* 1024/.exec(rules)?.[1]);
    expect(alertMiB).toBeGreaterThan(0);
    const option = `--max-old-space-size=${alertMiB}`;
    expect(find("ConfigMap", "parley-node")?.data?.NODE_OPTIONS).toBe(option);
    expect(fs.readFileSync(at("docker/node.Dockerfile"), "utf8")).toContain(`NODE_OPTIONS=${option}`);
    expect(fs.readFileSync(at("compose/docker-compose.yml"), "utf8")).toContain(`NODE_OPTIONS: ${option}`);
  });
});
