// Prometheus configuration, alert rules and their unit tests (promtool),
// Alertmanager routing (amtool), and every PromQL query parsed by
// lezer-promql, Prometheus's own grammar for editors.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { at, DEPLOY, isRecord, LOADED_RULES, loadedQueries, promqlErrors, readYaml, rulesOf, tool } from "./support.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "parley-deploy-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const ok = (r: { status: number; stdout: string; stderr: string }) => {
  expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
};

describe("the tools come from their Debian packages", () => {
  it.each([
    ["promtool", "prometheus"],
    ["amtool", "prometheus-alertmanager"],
    ["docker-compose", "docker-compose"],
    ["shellcheck", "shellcheck"],
    ["caddy", "caddy"],
  ])("%s from %s", (bin, pkg) => {
    const found = tool("sh", ["-c", `command -v ${bin}`]);
    ok(found);
    const owner = tool("dpkg", ["-S", fs.realpathSync(found.stdout.trim())]);
    ok(owner);
    expect(owner.stdout.split(":")[0]).toBe(pkg);
  });
});

describe("Prometheus", () => {
  it("promtool accepts the rules", () => {
    ok(tool("promtool", ["check", "rules", LOADED_RULES]));
  });

  it("the rule unit tests pass (promtool test rules)", () => {
    ok(tool("promtool", ["test", "rules", at("prometheus/tests/parley.rules.test.yml")]));
  });

  it("promtool test rules fails when an alert's expectation is wrong (the tests have teeth)", () => {
    const tests = readYaml(at("prometheus/tests/parley.rules.test.yml")) as { tests: { name: string }[] };
    const broken = { ...tests, rule_files: [LOADED_RULES], tests: [tests.tests[0]] };
    // The first case expects the alert at 8m; claim it at 3m instead.
    const text = stringify(broken).replace("8m", "3m");
    const file = path.join(tmp, "broken.test.yml");
    fs.writeFileSync(file, text);
    expect(tool("promtool", ["test", "rules", file]).status).not.toBe(0);
  });

  it("every alert has at least one unit test", () => {
    const testText = fs.readFileSync(at("prometheus/tests/parley.rules.test.yml"), "utf8");
    const untested = rulesOf(LOADED_RULES)
      .map((r) => r.alert)
      .filter((name): name is string => !!name && !new RegExp(`alertname: ${name}\\b`).test(testText));
    expect(untested).toEqual([]);
  });

  it("every alert has a severity Alertmanager routes, a component, and a runbook section that exists", () => {
    const readme = fs.readFileSync(at("README.md"), "utf8");
    // GitHub's anchors: lower case, spaces to hyphens, punctuation dropped.
    const anchors = new Set(
      [...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) =>
        (m[1] ?? "")
          .toLowerCase()
          .replace(/[^\p{L}\p{N} -]/gu, "")
          .replaceAll(" ", "-"),
      ),
    );
    for (const rule of rulesOf(LOADED_RULES) as {
      alert?: string;
      labels?: Record<string, string>;
      annotations?: Record<string, string>;
    }[]) {
      expect(["critical", "warning"], rule.alert).toContain(rule.labels?.severity);
      expect(rule.labels?.component, rule.alert).toBeTruthy();
      expect(rule.annotations?.summary, rule.alert).toBeTruthy();
      expect(rule.annotations?.description, rule.alert).toBeTruthy();
      const runbook = rule.annotations?.runbook ?? "";
      expect(runbook, rule.alert).toMatch(/^deploy\/README\.md#/);
      expect([...anchors], `${rule.alert}: ${runbook}`).toContain(runbook.split("#")[1]);
    }
  });

  it("promtool accepts the compose configuration, with its rule files", () => {
    const r = tool("promtool", ["check", "config", at("prometheus/prometheus.yml")]);
    ok(r);
    expect(r.stdout).toContain("1 rule files found");
  });

  // Debian's Prometheus is built without Kubernetes service discovery, so its
  // promtool rejects kubernetes_sd_configs. Each such block is swapped for a
  // file_sd_configs of the same target groups, and the service-account files
  // for stand-ins; promtool then checks everything else (relabelling regexes,
  // rule files, TLS and authorization settings).
  it("promtool accepts the Kubernetes configuration, its discovery blocks aside", () => {
    const config = readYaml(at("prometheus/prometheus-k8s.yml")) as { scrape_configs: Record<string, unknown>[] };
    const sdFile = path.join(tmp, "targets.json");
    fs.writeFileSync(sdFile, "[]");
    const sa = path.join(tmp, "serviceaccount");
    fs.mkdirSync(sa, { recursive: true });
    fs.writeFileSync(path.join(sa, "ca.crt"), "");
    fs.writeFileSync(path.join(sa, "token"), "");
    let swapped = 0;
    for (const job of config.scrape_configs) {
      const sd = job.kubernetes_sd_configs;
      if (!Array.isArray(sd)) continue;
      for (const block of sd) {
        expect(["pod", "node", "service", "endpoints", "endpointslice", "ingress"]).toContain(
          isRecord(block) ? block.role : undefined,
        );
      }
      delete job.kubernetes_sd_configs;
      job.file_sd_configs = [{ files: [sdFile] }];
      swapped++;
    }
    expect(swapped).toBe(2);
    const text = stringify(config).replaceAll("/var/run/secrets/kubernetes.io/serviceaccount", sa);
    const dir = path.join(tmp, "k8s-prometheus");
    fs.mkdirSync(path.join(dir, "rules"), { recursive: true });
    fs.copyFileSync(LOADED_RULES, path.join(dir, "rules", path.basename(LOADED_RULES)));
    fs.writeFileSync(path.join(dir, "prometheus.yml"), text);
    const r = tool("promtool", ["check", "config", path.join(dir, "prometheus.yml")]);
    ok(r);
    expect(r.stdout).toContain("1 rule files found");
  });

  it("both configurations load the rules folder, which holds the one rule file", () => {
    for (const file of ["prometheus/prometheus.yml", "prometheus/prometheus-k8s.yml"]) {
      const { rule_files } = readYaml(at(file)) as { rule_files: string[] };
      expect(rule_files).toEqual(["rules/*.rules.yml"]);
    }
    expect(fs.readdirSync(at("prometheus/rules"))).toEqual(["parley.rules.yml"]);
  });
});

describe("PromQL", () => {
  it("lezer-promql finds a syntax error where there is one", () => {
    expect(promqlErrors("sum(rate(http_requests_total[5m])")).not.toEqual([]);
    expect(promqlErrors("sum(rate(http_requests_total[5m]))")).toEqual([]);
  });

  it("every query of the rules, dashboards and adapter parses", () => {
    const queries = loadedQueries();
    expect(queries.length).toBeGreaterThan(60);
    const bad = queries.flatMap((q) => promqlErrors(q.expr).map((e) => `${q.where}: ${e}`));
    expect(bad).toEqual([]);
  });
});

describe("Alertmanager", () => {
  const config = at("alertmanager/alertmanager.yml");

  it("amtool accepts the configuration", () => {
    ok(tool("amtool", ["check-config", config]));
  });

  it.each([
    [["severity=critical", "component=node", "alertname=ParleyNodeDown"], "pager,team"],
    [["severity=warning", "component=speech", "alertname=SpeechStreamsFailingOver"], "team"],
    [["severity=warning", "component=payouts", "alertname=PayoutFailures"], "payouts,team"],
    [["severity=critical", "component=database", "alertname=DatabaseDown"], "pager,team"],
  ])("routes %j to %s", (labels, receivers) => {
    const r = tool("amtool", ["config", "routes", "test", `--config.file=${config}`, ...labels]);
    ok(r);
    expect(r.stdout.trim()).toBe(receivers);
  });

  it("every receiver reads its secret from a file, none is written in the configuration", () => {
    const text = fs.readFileSync(config, "utf8");
    expect(text).not.toMatch(/^\s*(routing_key|service_key|api_url|auth_password|url):/m);
    expect(text).toMatch(/routing_key_file:/);
    expect(path.relative(DEPLOY, config)).toBe("alertmanager/alertmanager.yml");
  });
});
