// The store a link names, looked up before the consent screen (GET
// /api/stores/:code, storeRoutes.ts in signaling); fetch stubbed.
import { describe, expect, it, vi } from "vitest";
import { lookUpStore } from "../src/store.ts";

const answering = (res: Response | Error) =>
  vi.fn(async (_url: string) => {
    if (res instanceof Error) throw res;
    return res;
  });

describe("lookUpStore", () => {
  it("finds a known store, asking for its code as a path segment", async () => {
    const fetch = answering(Response.json({ code: "kafe-sol", name: "Kafé Sol", language: "sv-SE" }));
    expect(await lookUpStore("kafe-sol", fetch as unknown as typeof globalThis.fetch)).toEqual({
      kind: "found",
      store: { code: "kafe-sol", name: "Kafé Sol", language: "sv-SE" },
    });
    expect(fetch).toHaveBeenCalledWith("/api/stores/kafe-sol");
    const odd = answering(Response.json({ error: "malformed" }, { status: 400 }));
    await lookUpStore("a/b?c", odd as unknown as typeof globalThis.fetch);
    expect(odd).toHaveBeenCalledWith("/api/stores/a%2Fb%3Fc");
  });

  it("says a code no store has (or none can have) is unknown; no code at all without asking", async () => {
    for (const status of [404, 400]) {
      const fetch = answering(Response.json({ error: "no such store" }, { status }));
      expect(await lookUpStore("nope", fetch as unknown as typeof globalThis.fetch)).toEqual({ kind: "unknown" });
    }
    const fetch = answering(new Error("not asked"));
    expect(await lookUpStore("", fetch as unknown as typeof globalThis.fetch)).toEqual({ kind: "unknown" });
    expect(fetch).not.toHaveBeenCalled();
  });

  it("takes the node's retention for the consent screen; none from a node that says none or nonsense", async () => {
    const said = { code: "demo", name: "Demo", language: "en-US" };
    const retention = { transcriptDays: 30, voiceDataHours: 1 };
    const fetch = answering(Response.json({ ...said, retention }));
    expect(await lookUpStore("demo", fetch as unknown as typeof globalThis.fetch)).toEqual({
      kind: "found",
      store: { ...said, retention },
    });
    for (const odd of [
      undefined,
      null,
      "730 days",
      { transcriptDays: 730 },
      { transcriptDays: "730", voiceDataHours: 24 },
      { transcriptDays: 0, voiceDataHours: 24 },
      { transcriptDays: 730, voiceDataHours: 1.5 },
    ]) {
      const f = answering(Response.json({ ...said, retention: odd }));
      expect(await lookUpStore("demo", f as unknown as typeof globalThis.fetch), JSON.stringify(odd)).toEqual({
        kind: "found",
        store: said,
      });
    }
  });

  it("cannot say when the node cannot answer now (the app then goes on as before)", async () => {
    for (const res of [
      Response.json({ error: "database away" }, { status: 503 }),
      Response.json({ error: "too many" }, { status: 429 }),
      new Response("<html>", { status: 200 }),
      new TypeError("Failed to fetch"),
    ]) {
      const fetch = answering(res);
      expect(await lookUpStore("demo", fetch as unknown as typeof globalThis.fetch)).toEqual({ kind: "unreadable" });
    }
  });
});
