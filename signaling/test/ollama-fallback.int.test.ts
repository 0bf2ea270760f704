// Fault: Ollama slow or down, at the node level. A real node points
// OLLAMA_HOST at OllamaProtocolServer (a TEST DOUBLE speaking Ollama's wire
// protocol: Ollama cannot be installed here) answering too late, then at a
// port nothing listens on. A customer (WebRTC peer, real speech worker)
// holds a conversation each time: it is scored by the built-in engine, ends
// normally, and the node's /metrics shows why (scoring_fallbacks_total,
// llm_failures_total); /ready stays ready and reports Ollama unreachable.
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import type { ServerMessage } from "@parley/proto/ws";
import { afterEach, describe, expect, it } from "vitest";
import { OllamaProtocolServer, refusedPort } from "../../inference-bridge/test/scoring/ollama-protocol-server.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { startServer } from "./harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const [recording] = librivoxRecordings().sort((a, b) => b.seconds - a.seconds);
const speech = opusPacketsFromFile(recording!.wav, 0.3);
const silence = Array.from({ length: 50 }, () => speech[0]!);

/** A counter's value on the node's /metrics (internal listener), summed over the label values given. */
async function metric(node: ParleyServer, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${node.internalUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

/** One conversation: the recording spoken, then the customer ends it. Returns what the customer received. */
async function converse(node: ParleyServer): Promise<ServerMessage[]> {
  const customer = await WeriftCustomer.connect(node);
  cleanups.push(() => customer.close());
  await customer.play([...speech, ...silence]);
  expect((await customer.socket.request({ case: "endSession", value: {} }, 30_000)).case).toBe("sessionEnded");
  return customer.socket.messages;
}

/** Engines of the scores the customer saw, and of the final score. */
function engines(messages: ServerMessage[]): { live: string[]; final: string | undefined } {
  const live: string[] = [];
  let final: string | undefined;
  for (const m of messages) {
    if (m.kind.case !== "event") continue;
    const kind = m.kind.value.kind;
    if (kind.case === "score") live.push(kind.value.engine);
    if (kind.case === "conversationEnded") final = kind.value.finalScore?.engine;
  }
  return { live, final };
}

async function node(env: Record<string, string>): Promise<ParleyServer> {
  const s = await startServer(env);
  cleanups.push(() => s.close());
  return s;
}

describe("Ollama slow or down: the built-in scorer takes over, visibly", () => {
  it("slow: answers later than OLLAMA_TIMEOUT_MS, so scores come from the built-in engine", async () => {
    const ollama = await OllamaProtocolServer.start();
    cleanups.push(() => ollama.close());
    const reply = { specificity: 0.8, actionability: 0.7, sentiment: 0.1, relevance: 0.9, score: 80, topics: [] };
    ollama.behave({ kind: "reply", content: JSON.stringify(reply), delayMs: 3_000 });
    const s = await node({ OLLAMA_HOST: ollama.host, OLLAMA_TIMEOUT_MS: "800", OLLAMA_BUDGET_MS: "2000" });
    const before = {
      timeouts: await metric(s, "llm_failures_total", { reason: "timeout" }),
      fallbacks: await metric(s, "scoring_fallbacks_total"),
    };

    const { live, final } = engines(await converse(s));
    // It really asked Ollama, and every score the customer saw came from the built-in engine.
    expect(ollama.chatRequests.length).toBeGreaterThan(0);
    expect(live.length).toBeGreaterThan(0);
    expect(new Set([...live, final])).toEqual(new Set(["builtin"]));
    expect(await metric(s, "llm_failures_total", { reason: "timeout" })).toBeGreaterThan(before.timeouts);
    expect(await metric(s, "scoring_fallbacks_total", { reason: "timeout" })).toBeGreaterThan(0);
    expect(await metric(s, "scoring_fallbacks_total")).toBeGreaterThan(before.fallbacks);
    expect((await fetch(`${s.internalUrl}/ready`)).status).toBe(200);
  }, 90_000);

  it("down: connection refused, so it cools off at once and the built-in engine scores", async () => {
    const port = await refusedPort();
    const s = await node({ OLLAMA_HOST: `http://127.0.0.1:${port}` });
    const before = {
      unavailable: await metric(s, "llm_failures_total", { reason: "unavailable" }),
      fallbacks: await metric(s, "scoring_fallbacks_total", { reason: "unavailable" }),
      coolingOff: await metric(s, "scoring_fallbacks_total", { reason: "cooling_off" }),
    };

    const { live, final } = engines(await converse(s));
    expect(live.length).toBeGreaterThan(0);
    expect(new Set([...live, final])).toEqual(new Set(["builtin"]));
    expect(await metric(s, "llm_failures_total", { reason: "unavailable" })).toBeGreaterThan(before.unavailable);
    // One refused connection is enough: the rest of the conversation does not even try.
    expect(await metric(s, "scoring_fallbacks_total", { reason: "unavailable" })).toBeGreaterThan(before.fallbacks);
    expect(await metric(s, "scoring_fallbacks_total", { reason: "cooling_off" })).toBeGreaterThan(before.coolingOff);
    // Ready all the same (Ollama is optional), and it says Ollama cannot be reached.
    const ready = await fetch(`${s.internalUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { scoring: { ollama?: { reachable: boolean } } }).scoring.ollama?.reachable).toBe(
      false,
    );
  }, 90_000);
});
