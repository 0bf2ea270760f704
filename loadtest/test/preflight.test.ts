// What the CLI checks before a run, and how it ends one: against stand-in
// HTTP servers (a node whose sessions cannot be created, a node's internal
// listener, a dead port), in this process.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { conclude, main } from "../src/cli.ts";
import { buildReport, type LoadTestReport } from "../src/report/report.ts";
import { fetchFailure } from "../src/run/preflight.ts";
import { sessionResult, syntheticOptions, syntheticOutcome } from "./syntheticRun.ts";

const dir = mkdtempSync(path.join(tmpdir(), "parley-preflight-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An HTTP server answering each request with `answer`'s status and JSON body; every request path noted. */
async function stand(answer: (method: string, url: string) => [number, unknown]): Promise<{
  url: string;
  requests: string[];
  server: Server;
}> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const [status, body] = answer(req.method!, req.url!);
    res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

/** A node's public listener, with the demo store only, whose sessions cannot be created. */
const publicListener = () =>
  stand((method, url) =>
    url === "/health"
      ? [200, { status: "ok" }]
      : url === "/api/stores/demo"
        ? [200, { code: "demo", name: "Demo store", language: "en-US" }]
        : url.startsWith("/api/stores/")
          ? [404, { error: "no such store" }]
          : method === "POST" && url === "/api/sessions"
            ? [503, { error: "node full" }]
            : [404, { error: "not found" }],
  );
/** A node's internal listener: /health, and 404 for what customers use. */
const internalListener = () =>
  stand((_m, url) => (url === "/health" ? [200, { status: "ok" }] : [404, { error: "not found" }]));

let servers: Server[] = [];
let stderr: string[];
let stdout: string[];
beforeAll(() => {
  vi.spyOn(console, "error").mockImplementation((...a) => void stderr.push(a.join(" ")));
  vi.spyOn(console, "log").mockImplementation((...a) => void stdout.push(a.join(" ")));
});
afterAll(() => vi.restoreAllMocks());
afterEach(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  servers = [];
});
const fresh = () => {
  stderr = [];
  stdout = [];
};
const cli = (url: string, ...args: string[]) =>
  main(["--url", url, "--metrics-url", "none", "--quiet", "-d", "2s", "-n", "1", ...args]);

describe("before a run", () => {
  it("says why no node answered: the connection's error, not just 'fetch failed'", async () => {
    fresh();
    const dead = await stand(() => [200, {}]);
    await new Promise((r) => dead.server.close(r)); // nobody on its port now
    expect(await cli(dead.url, "-o", path.join(dir, "dead"))).toBe(2);
    expect(stderr.join("\n")).toMatch(/no Parley node at http:\/\/127\.0\.0\.1:\d+: fetch failed: .*ECONNREFUSED/);

    const refused = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(new Error("getaddrinfo ENOTFOUND nosuch.example"), { code: "ENOTFOUND" }),
    });
    expect(fetchFailure(refused)).toBe("fetch failed: getaddrinfo ENOTFOUND nosuch.example");
    // Several addresses tried (localhost): an AggregateError, its message empty.
    const both = Object.assign(new TypeError("fetch failed"), {
      cause: Object.assign(
        new AggregateError(
          [new Error("connect ECONNREFUSED ::1:1"), new Error("connect ECONNREFUSED 127.0.0.1:1")],
          "",
        ),
        {
          code: "ECONNREFUSED",
        },
      ),
    });
    expect(fetchFailure(both)).toBe("fetch failed: connect ECONNREFUSED ::1:1; connect ECONNREFUSED 127.0.0.1:1");
  });

  it("refuses a store the node does not have, and a listener that is not a node's public one, before any session", async () => {
    fresh();
    const node = await publicListener();
    servers.push(node.server);
    expect(await cli(node.url, "--store", "nosuch", "-o", path.join(dir, "nosuch"))).toBe(2);
    expect(stderr.join("\n")).toMatch(/--store nosuch: the node at http:\/\/127\.0\.0\.1:\d+ has no such store/);
    expect(node.requests).not.toContain("POST /api/sessions");

    fresh();
    const internal = await internalListener();
    servers.push(internal.server);
    expect(await cli(internal.url, "-o", path.join(dir, "internal"))).toBe(2);
    expect(stderr.join("\n")).toMatch(/is not a Parley node's public listener: \/api\/stores\/demo answered 404/);
    expect(internal.requests).not.toContain("POST /api/sessions");
  });

  it("refuses an --out that is a file, or under one, before touching the node", async () => {
    const file = path.join(dir, "a-file");
    writeFileSync(file, "hi\n");
    const node = await publicListener();
    servers.push(node.server);
    for (const out of [file, path.join(file, "below")]) {
      fresh();
      expect(await cli(node.url, "-o", out)).toBe(2);
      expect(stderr.join("\n")).toMatch(/--out .*a-file.* a file, not a folder/);
    }
    expect(node.requests).toEqual([]);
    expect(readFileSync(file, "utf8")).toBe("hi\n");
  });
});

describe("after a run", () => {
  it("exits 2 (no run) when no session connected, the report written all the same", async () => {
    fresh();
    const node = await publicListener();
    servers.push(node.server);
    const out = path.join(dir, "none-connected");
    expect(await cli(node.url, "-o", out)).toBe(2);
    expect(node.requests).toContain("POST /api/sessions");
    const report = JSON.parse(readFileSync(path.join(out, "report.json"), "utf8")) as LoadTestReport;
    expect(report.totals).toMatchObject({ sessionsStarted: 1, sessionsConnected: 0 });
    expect(stdout.join("\n")).toMatch(/sessions 1 started, 0 connected/);
    expect(stderr.join("\n")).toMatch(/none of the 1 sessions connected: nothing was measured/);
  });

  it("prints the summary when the report cannot be written, says why and exits non-zero", () => {
    fresh();
    const file = path.join(dir, "in-the-way");
    writeFileSync(file, "hi\n");
    const sessions = [sessionResult(0, 0, 20_000)];
    const report = buildReport(
      syntheticOptions(1),
      [],
      syntheticOutcome(sessions, 30, () => 10),
    );
    expect(conclude(report, file)).toBe(2);
    expect(stdout.join("\n")).toMatch(/sessions 1 started, 1 connected/);
    expect(stderr.join("\n")).toMatch(/the report could not be written to .*in-the-way: EEXIST/);

    fresh();
    expect(conclude(report, path.join(dir, "written"))).toBe(0);
    expect(stdout.join("\n")).toMatch(/report: .*written\/report\.json/);
  });
});
