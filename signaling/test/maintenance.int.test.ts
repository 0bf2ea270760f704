// MAINTENANCE_MODE: an operator stops new conversations while the node keeps
// serving what is under way: the app is told why, with a retry hint.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { startServer } from "./harness.ts";

let server: ParleyServer;
beforeAll(async () => {
  server = await startServer({ MAINTENANCE_MODE: "true" });
}, 60_000);
afterAll(async () => {
  await server?.close();
});

describe("maintenance mode", () => {
  it("refuses new conversations with 503, reason maintenance and a retry hint, and stores nothing", async () => {
    const res = await fetch(`${server.url}/api/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("300");
    expect(await res.json()).toMatchObject({ reason: "maintenance", error: expect.stringMatching(/maintenance/) });
    expect(server.sessions.size).toBe(0);
  });

  it("stays up and ready: the app, the API's other routes and the internal checks answer", async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect((await fetch(`${server.internalUrl}/ready`)).status).toBe(200);
    expect((await fetch(`${server.url}/?store=demo`)).status).toBe(200);
    // A business login still works: dashboards and records are not in maintenance.
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "nobody@parley.local", password: "wrong password here" }),
    });
    expect(login.status).toBe(401);
  });
});
