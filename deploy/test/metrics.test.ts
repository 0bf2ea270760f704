// Every metric that rules, dashboards and the autoscaler read exists in the
// node's real prom-client registry (or comes from a named exporter), and
// every metric the node exports is shown somewhere.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { collectProcessMetrics, register } from "../../signaling/src/metrics.ts";
import {
  adapterRules,
  at,
  dashboardQueries,
  filesUnder,
  LOADED_RULES,
  loadedDashboards,
  loadedQueries,
  metricNames,
  REPO,
  readYamlDocuments,
  ruleQueries,
} from "./support.ts";

/** Series that do not come from the node, each with its source. Keep it short and exact. */
const EXTERNAL: Record<string, string> = {
  up: "Prometheus, per scrape target",
  ALERTS: "Prometheus, alerts in evaluation",
  pg_up: "postgres_exporter (sidecar / compose service)",
  redis_up: "redis_exporter (sidecar / compose service)",
  node_memory_MemTotal_bytes: "node_exporter (compose service)",
  node_memory_MemAvailable_bytes: "node_exporter (compose service)",
  container_memory_working_set_bytes: "cAdvisor through the kubelet",
  container_spec_memory_limit_bytes: "cAdvisor through the kubelet",
};

/** Names a scrape shows for a metric family: a histogram's _bucket, _sum and _count. */
function seriesNames(name: string, type: string): string[] {
  if (type === "histogram") return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
  if (type === "summary") return [name, `${name}_sum`, `${name}_count`];
  return [name];
}

/** The modules that define metrics: every source file that constructs a prom-client metric. */
function metricModules(): string[] {
  return fs
    .readdirSync(REPO, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(REPO, d.name, "src")))
    .flatMap((d) => filesUnder(path.join(REPO, d.name, "src"), ".ts"))
    .filter((file) => !file.includes(`${path.sep}gen${path.sep}`) && !file.includes("node_modules"))
    .filter((file) => {
      const source = fs.readFileSync(file, "utf8");
      return source.includes('from "prom-client"') && /new (Counter|Gauge|Histogram|Summary)\(/.test(source);
    });
}

let exported: Map<string, string>;
let appFamilies: string[];
/** Each family's series as the registry holds them before anything has happened (a node just started). */
let atStart: Map<string, { labels: Partial<Record<string, string | number>>; value: number }[]>;

beforeAll(async () => {
  for (const file of metricModules()) await import(pathToFileURL(file).href);
  // Before Node's default metrics are collected, the registry holds only Parley's own.
  appFamilies = (await register.getMetricsAsJSON()).map((m) => m.name);
  atStart = new Map((await register.getMetricsAsJSON()).map((m) => [m.name, m.values]));
  collectProcessMetrics();
  exported = new Map();
  for (const metric of await register.getMetricsAsJSON())
    for (const name of seriesNames(metric.name, String(metric.type))) exported.set(name, String(metric.type));
});

describe("metric names", () => {
  it("finds the node's metric modules and Node's default metrics in the registry", () => {
    expect(metricModules().map((f) => path.relative(REPO, f))).toEqual(
      expect.arrayContaining([
        "signaling/src/metrics.ts",
        "inference-bridge/src/metrics.ts",
        "inference-bridge/src/scoring/metrics.ts",
        "inference-bridge/src/dialogue/metrics.ts",
      ]),
    );
    expect(exported.get("voice_sessions_active")).toBe("gauge");
    expect(exported.has("feedback_quality_score_bucket")).toBe(true);
    expect(exported.has("nodejs_eventloop_lag_p99_seconds")).toBe(true);
    expect(exported.has("process_resident_memory_bytes")).toBe(true);
  });

  it("every metric in the loaded rules, the provisioned dashboards and the adapter is exported", () => {
    const missing = loadedQueries().flatMap((q) =>
      metricNames(q.expr)
        .filter((name) => !exported.has(name) && !(name in EXTERNAL))
        .map((name) => `${q.where}: ${name}`),
    );
    expect(missing).toEqual([]);
  });

  it("every metric the node defines appears on a provisioned dashboard", () => {
    const shown = new Set(
      loadedDashboards()
        .flatMap(dashboardQueries)
        .flatMap((q) => metricNames(q.expr)),
    );
    const hidden = appFamilies.filter((family) => {
      const type = [...exported.entries()].find(([n]) => n === family || n === `${family}_bucket`)?.[1] ?? "gauge";
      return !seriesNames(family, type).some((s) => shown.has(s));
    });
    expect(appFamilies.length).toBeGreaterThan(20);
    expect(hidden).toEqual([]);
  });

  // A counter series that first appears at 1 shows no increase to increase() or rate():
  // an alert on a node's first payout failure or worker death would never fire.
  it("counters that alerts take increase() or rate() of export the series they select at 0 from start-up", () => {
    /** Series that cannot exist before their first event, each with why and where it is tested instead. */
    const UNBOUNDED: Record<string, string> = {
      http_requests_total: "by route and status code: a 5xx is any of many",
      feedback_sessions_total: "by business: created at 0 per business by its first session (sessionMetrics.test.ts)",
    };
    const selected = ruleQueries(LOADED_RULES).flatMap(({ where, expr }) =>
      [...expr.matchAll(/\b(?:increase|rate)\(\s*([a-z_:]+)\s*(?:\{([^}]*)\})?\s*\[/g)].map((m) => ({
        where,
        family: m[1]!,
        matchers: [...(m[2] ?? "").matchAll(/(\w+)\s*(=~|=)\s*"([^"]*)"/g)]
          .filter(([, label]) => label !== "job" && label !== "instance")
          .map(([, label, , value]) => ({ label: label!, values: value!.split("|") })),
      })),
    );
    const counted = selected.filter((s) => exported.get(s.family) === "counter" && !(s.family in UNBOUNDED));
    expect(counted.map((s) => s.family)).toEqual(
      expect.arrayContaining([
        "reward_payout_transitions_total",
        "media_worker_deaths_total",
        "ws_errors_total",
        "voice_processing_errors_total",
        "scoring_fallbacks_total",
      ]),
    );
    const missing = counted.flatMap(({ where, family, matchers }) => {
      const series = atStart.get(family) ?? [];
      if (series.length === 0) return [`${where}: ${family} has no series`];
      if (series.some((s) => s.value !== 0)) return [`${where}: ${family} is not at 0`];
      return matchers.flatMap(({ label, values }) =>
        values
          .filter((v) => !series.some((s) => s.labels[label] === v))
          .map((v) => `${where}: ${family}{${label}="${v}"}`),
      );
    });
    expect(missing).toEqual([]);
    expect(atStart.get("reward_payout_transitions_total")).toEqual(
      expect.arrayContaining([
        { labels: { state: "payout_failed" }, value: 0 },
        { labels: { state: "reversed" }, value: 0 },
      ]),
    );
    expect(atStart.get("media_worker_deaths_total")).toEqual(
      expect.arrayContaining([
        { labels: { cause: "crashed" }, value: 0 },
        { labels: { cause: "hung" }, value: 0 },
      ]),
    );
  });

  it("dashboard panels say what they show: money paid comes from payouts, a business is not a store", () => {
    const panels = new Map<string, string[]>();
    for (const q of loadedDashboards().flatMap(dashboardQueries))
      panels.set(q.where, [...(panels.get(q.where) ?? []), q.expr]);
    const wrong = [...panels].flatMap(([where, exprs]) => {
      const title = where.slice(where.indexOf(": ") + 2);
      const names = exprs.flatMap(metricNames);
      const problems: string[] = [];
      // reward_amount_sek is recorded when a reward is decided (claimable, withheld or none), not when it is paid.
      if (/\bpaid\b/i.test(title) && !names.includes("reward_payout_amount_sek_total"))
        problems.push(`${where}: says paid but reads no payout`);
      if (/\bstores?\b/i.test(title) && exprs.some((e) => /\bby\s*\([^)]*business_id/.test(e)))
        problems.push(`${where}: says stores but groups by business`);
      if (/\bmean reward\b/i.test(title) && !exprs.some((e) => /reward_amount_sek_bucket\{[^}]*le="0"/.test(e)))
        problems.push(`${where}: a mean reward that counts withheld and unearned rewards (0 SEK) in`);
      return problems;
    });
    expect(wrong).toEqual([]);
  });

  it("the autoscaler's custom metric is served by an adapter rule over an exported gauge", () => {
    const hpa = readYamlDocuments(at("k8s/node.yaml")).find(
      (d) => (d as { kind?: string }).kind === "HorizontalPodAutoscaler",
    ) as { spec: { metrics: { type: string; pods?: { metric: { name: string } } }[] } };
    const podMetrics = hpa.spec.metrics.filter((m) => m.type === "Pods").map((m) => m.pods?.metric.name);
    expect(podMetrics).toEqual(["voice_sessions_active"]);
    const served = adapterRules().map((r) => ({ as: r.name?.as, series: metricNames(r.seriesQuery) }));
    const rule = served.find((r) => r.as === podMetrics[0]);
    expect(rule?.series).toEqual(["voice_sessions_active"]);
    expect(exported.get("voice_sessions_active")).toBe("gauge");
  });
});
