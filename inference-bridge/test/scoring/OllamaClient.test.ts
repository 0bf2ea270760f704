// The LLM client under load and against a broken server, on the Ollama
// protocol test server: time spent in this node's own queue is not Ollama
// failing, and a response is read only as far as a sane one goes, without
// the model's text reaching the console.
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, type MockInstance, vi } from "vitest";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { CircuitBreaker } from "../../src/scoring/CircuitBreaker.ts";
import { FallbackScorer } from "../../src/scoring/FallbackScorer.ts";
import { BuiltinFollowUpPlanner, type FollowUpInput } from "../../src/scoring/FollowUpPlanner.ts";
import { type LlmRetryPolicy, OllamaClient } from "../../src/scoring/OllamaClient.ts";
import { OllamaFollowUpPlanner } from "../../src/scoring/OllamaFollowUpPlanner.ts";
import { OllamaScorer } from "../../src/scoring/OllamaScorer.ts";
import type { ScoringError } from "../../src/scoring/types.ts";
import { metricValue, REPLY, TEXT } from "./fakes.ts";
import { OllamaProtocolServer } from "./ollama-protocol-server.ts";

const OLLAMA = "ollama:qwen2:0.5b";
const logger = pino({ level: "silent" });
const signal = () => new AbortController().signal;
/** A busy machine may take its time to get a request to the test server. */
const WAIT = { timeout: 10_000 };
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (err: unknown) => err as ScoringError,
  );
const clientFor = (retry: Partial<LlmRetryPolicy>, maxConcurrent = 4) =>
  new OllamaClient({ host: server.host, maxConcurrent, retry: { maxRetry: 0, retryIntervalMs: 5, ...retry } });

let server: OllamaProtocolServer;
beforeAll(async () => {
  server = await OllamaProtocolServer.start();
});
afterAll(() => server.close());
afterEach(() => {
  server.requests.length = 0;
  vi.restoreAllMocks();
});

describe("OllamaClient: this node's queue is not Ollama failing", () => {
  it("a budget spent waiting for a slot neither counts on the breaker nor moves a conversation off Ollama", async () => {
    // A healthy Ollama answering in 0.8 s, one slot, a 2 s budget, five conversations scoring at once.
    server.behave({ kind: "reply", content: REPLY, delayMs: 800 });
    const node = new FallbackScorer({
      primary: new OllamaScorer({ client: clientFor({ timeoutMs: 2_000, budgetMs: 2_000 }, 1) }),
      fallback: new BuiltinScorer(),
      logger,
    });
    const busyBefore = await metricValue("scoring_fallbacks_total", { reason: "queue_full" });
    const conversations = Array.from({ length: 5 }, () => node.forConversation(logger));

    const engines = (await Promise.all(conversations.map((c) => c.score(TEXT, signal())))).map((r) => r.engine);

    expect(engines[0]).toBe(OLLAMA);
    const fellBack = conversations.filter((_, i) => engines[i] === "builtin");
    expect(fellBack.length).toBeGreaterThanOrEqual(2); // the last two cannot get the slot within 2 s
    expect(node.breaker.failures).toBe(0);
    expect(node.primaryAvailable).toBe(true);
    expect(await metricValue("scoring_fallbacks_total", { reason: "queue_full" })).toBe(busyBefore + fellBack.length);
    // Ollama idle again: the conversations that fell back for one update are still on it.
    for (const conversation of fellBack) expect((await conversation.score(TEXT, signal())).engine).toBe(OLLAMA);
  }, 20_000);

  it("blames the queue, not Ollama, when the wait for a slot left too little of the budget; else Ollama", async () => {
    server.behave({ kind: "stall" });
    const scorer = new OllamaScorer({ client: clientFor({ timeoutMs: 1_000, budgetMs: 1_000 }, 1) });
    const queuedFor = async (holdMs: number) => {
      const before = server.chatRequests.length;
      const holder = new AbortController();
      const holding = failure(scorer.score(TEXT, holder.signal));
      await vi.waitUntil(() => server.chatRequests.length > before, WAIT);
      const queued = failure(scorer.score(TEXT, signal()));
      setTimeout(() => holder.abort(), holdMs);
      await holding;
      return queued;
    };
    // 700 ms waiting, 300 ms for Ollama: the budget went to the queue.
    expect(await queuedFor(700)).toMatchObject({ reason: "queue_full" });
    // 200 ms waiting, 800 ms of silence from Ollama: that is Ollama's timeout.
    expect(await queuedFor(200)).toMatchObject({ reason: "timeout" });
  }, 20_000);

  it("does not count a follow-up whose deadline passed in the queue against Ollama", async () => {
    server.behave({ kind: "stall" });
    const client = clientFor({ timeoutMs: 10_000, budgetMs: 20_000 }, 1);
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    const planner = new OllamaFollowUpPlanner({ client, breaker, deadlineMs: 300, logger });
    const input: FollowUpInput = {
      score: new BuiltinScorer().scoreSync(TEXT),
      transcript: TEXT,
      asked: [],
    };
    const holder = new AbortController();
    const holding = failure(new OllamaScorer({ client }).score(TEXT, holder.signal));
    await vi.waitUntil(() => server.chatRequests.length === 1, WAIT);

    expect(await planner.plan(input, signal())).toEqual(new BuiltinFollowUpPlanner().planSync(input));
    expect(breaker.failures).toBe(0);
    expect(breaker.available).toBe(true);
    expect(server.chatRequests).toHaveLength(1); // it never reached Ollama
    holder.abort();
    await holding;
  });
});

describe("OllamaClient: what a response may be", () => {
  const consoleSpies = (): MockInstance[] =>
    (["log", "info", "warn", "error", "debug"] as const).map((name) =>
      vi.spyOn(console, name).mockImplementation(() => undefined),
    );

  it("stops reading a response without newlines past its bound: malformed, the rest never read", async () => {
    const spies = consoleSpies(); // the old parser would print all 20 MB
    server.behave({ kind: "flood", bytes: 20 * 1024 * 1024 });
    const scorer = new OllamaScorer({ client: clientFor({ timeoutMs: 10_000, budgetMs: 10_000 }) });

    expect(await failure(scorer.score(TEXT, signal()))).toMatchObject({ reason: "malformed" });

    const flood = server.floods.at(-1)!;
    await vi.waitUntil(() => flood.closedEarly || flood.finished, WAIT);
    expect(flood).toMatchObject({ finished: false, closedEarly: true });
    expect(flood.written).toBeLessThan(flood.bytes / 2);
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  }, 20_000);

  it("bounds an error body too", async () => {
    server.behave({ kind: "flood", bytes: 20 * 1024 * 1024, status: 500 });
    const scorer = new OllamaScorer({ client: clientFor({ timeoutMs: 10_000, budgetMs: 10_000 }) });

    expect(await failure(scorer.score(TEXT, signal()))).toMatchObject({ reason: "malformed" });

    const flood = server.floods.at(-1)!;
    await vi.waitUntil(() => flood.closedEarly || flood.finished, WAIT);
    expect(flood).toMatchObject({ finished: false, closedEarly: true });
  }, 20_000);

  it("fails a stream with a line that is not JSON as malformed, printing nothing of it", async () => {
    const spies = consoleSpies();
    const line = (content: string, done: boolean) =>
      `${JSON.stringify({ model: "qwen2:0.5b", message: { role: "assistant", content }, done })}\n`;
    server.behave({
      kind: "raw",
      body: `${line('{"score":', false)}The customer said Jane at the till was rude\n${line("", true)}`,
    });

    const err = await failure(
      new OllamaScorer({ client: clientFor({ timeoutMs: 2_000, budgetMs: 2_000 }) }).score(TEXT, signal()),
    );

    expect(err).toMatchObject({ reason: "malformed" });
    expect(err.message).not.toContain("Jane");
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  });

  it("takes a reply within the character cap however finely it is streamed", async () => {
    const content = "a".repeat(4_000);
    server.behave({ kind: "reply", content, chunkChars: 1 }); // 4,000 lines: several hundred KiB on the wire
    const client = clientFor({ timeoutMs: 10_000, budgetMs: 10_000 });
    const reply = await client.chatJson({ model: "qwen2:0.5b", messages: [], format: {} }, (c) => c, signal());
    expect(reply).toBe(content);
  }, 20_000);
});
