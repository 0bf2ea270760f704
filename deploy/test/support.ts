// Shared by deploy/'s tests: where things are, running the Debian tools, and
// every PromQL expression that rules, dashboards and the autoscaler use.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parser } from "@prometheus-io/lezer-promql";
import { parseAllDocuments, parse as parseYaml } from "yaml";

export const DEPLOY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = path.resolve(DEPLOY, "..");
export const at = (...parts: string[]): string => path.join(DEPLOY, ...parts);

export interface ToolResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs a validation tool; a missing binary is a failure that names its Debian package. */
export function tool(bin: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ToolResult {
  const result = spawnSync(bin, args, {
    cwd: options.cwd ?? DEPLOY,
    env: options.env ?? process.env,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.error) throw new Error(`${bin} could not run (${result.error.message}): run scripts/install.sh`);
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/**
 * The speech worker's own argument parser (parley_asr.server.parse_args, in
 * the worker's venv from scripts/install.sh) applied to a command line:
 * the options it resolves, or its error.
 */
export function speechWorkerArgs(args: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const python = path.join(REPO, "inference-bridge/asr-worker/.venv/bin/python");
  const code =
    "import json, sys; from parley_asr.server import parse_args; print(json.dumps(vars(parse_args(sys.argv[1:]))))";
  const r = tool(python, ["-c", code, ...args], {
    cwd: path.join(REPO, "inference-bridge/asr-worker"),
    env: { ...process.env, ...env },
  });
  if (r.status !== 0) throw new Error(`parley_asr rejects ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

export function readYaml(file: string): unknown {
  return parseYaml(fs.readFileSync(file, "utf8"));
}

export function readYamlDocuments(file: string): unknown[] {
  return parseAllDocuments(fs.readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    return doc.toJS();
  });
}

export function filesUnder(dir: string, suffix: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(suffix))
    .map((f) => path.join(dir, f))
    .sort();
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** A PromQL expression and where it was found. */
export interface Query {
  where: string;
  expr: string;
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[];
}

export function rulesOf(file: string): RuleFile["groups"][number]["rules"] {
  return (readYaml(file) as RuleFile).groups.flatMap((g) => g.rules);
}

export function ruleQueries(file: string): Query[] {
  return rulesOf(file).map((r) => ({
    where: `${path.relative(DEPLOY, file)}: ${r.alert ?? r.record}`,
    expr: r.expr,
  }));
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

export function dashboardQueries(file: string): Query[] {
  const dashboard = JSON.parse(fs.readFileSync(file, "utf8")) as { panels: Panel[] };
  const queries: Query[] = [];
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? [])
        if (target.expr) queries.push({ where: `${path.relative(DEPLOY, file)}: ${panel.title}`, expr: target.expr });
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  return queries;
}

interface AdapterRule {
  seriesQuery: string;
  metricsQuery: string;
  name?: { matches?: string; as?: string };
}

export function adapterRules(): AdapterRule[] {
  return (readYaml(at("k8s/prometheus-adapter/config.yaml")) as { rules: AdapterRule[] }).rules;
}

/** prometheus-adapter's queries, its Go templates filled in as the adapter fills them. */
export function adapterQueries(): Query[] {
  return adapterRules().flatMap((rule, i) => [
    { where: `prometheus-adapter rule ${i} seriesQuery`, expr: rule.seriesQuery },
    {
      where: `prometheus-adapter rule ${i} metricsQuery`,
      expr: rule.metricsQuery
        .replaceAll("<<.Series>>", rule.seriesQuery.replace(/\{.*$/, ""))
        .replaceAll("<<.LabelMatchers>>", 'namespace="parley-edge",pod=~"parley-node-.*"')
        .replaceAll("<<.GroupBy>>", "pod"),
    },
  ]);
}

export const LOADED_RULES = at("prometheus/rules/parley.rules.yml");
export const loadedDashboards = (): string[] => filesUnder(at("grafana/dashboards"), ".json");

/** What is deployed today: loaded rules, provisioned dashboards, the autoscaler's adapter. */
export function loadedQueries(): Query[] {
  return [...ruleQueries(LOADED_RULES), ...loadedDashboards().flatMap(dashboardQueries), ...adapterQueries()];
}

/** Syntax errors lezer-promql finds, as the text they cover. */
export function promqlErrors(expr: string): string[] {
  const errors: string[] = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(`at ${node.from}: "${expr.slice(Math.max(0, node.from - 10), node.to + 10)}"`);
    },
  });
  return errors;
}

/** Every metric a query selects: the name of each vector selector, or its __name__ matcher. */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  const text = (from: number, to: number) => expr.slice(from, to);
  parser.parse(expr).iterate({
    enter(node) {
      if (node.name === "VectorSelector") {
        const first = node.node.firstChild;
        if (first?.name === "Identifier") names.add(text(first.from, first.to));
      }
      if (node.name === "UnquotedLabelMatcher") {
        const label = node.node.getChild("LabelName");
        const value = node.node.getChild("StringLiteral");
        const op = node.node.getChild("MatchOp");
        if (label && value && op && text(label.from, label.to) === "__name__" && text(op.from, op.to) === "=")
          names.add(JSON.parse(text(value.from, value.to)) as string);
      }
    },
  });
  return [...names];
}
