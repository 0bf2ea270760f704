// The switch to the built-in engine when Ollama fails, against the Ollama
// protocol test server and against an address where nothing listens.

import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { createScoring, createScoringEngine } from "../../src/scoring/createScoring.ts";
import { scoreEvent } from "../../src/scoring/events.ts";
import { FallbackScorer } from "../../src/scoring/FallbackScorer.ts";
import { observeFinalScore } from "../../src/scoring/metrics.ts";
import { OllamaClient } from "../../src/scoring/OllamaClient.ts";
import { OllamaScorer } from "../../src/scoring/OllamaScorer.ts";
import { type FeedbackScoreResult, type ScoringEngine, ScoringError } from "../../src/scoring/types.ts";
import { histogramCount, metricValue, REPLY, TEXT } from "./fakes.ts";
import { OllamaProtocolServer, refusedPort } from "./ollama-protocol-server.ts";

const logger = pino({ level: "silent" });
const signal = () => new AbortController().signal;

let server: OllamaProtocolServer;
beforeAll(async () => {
  server = await OllamaProtocolServer.start();
});
afterAll(() => server.close());
afterEach(() => {
  server.requests.length = 0;
});

function fallbackTo(host: string, options: { now?: () => number; timeoutMs?: number } = {}) {
  const client = new OllamaClient({
    host,
    retry: { maxRetry: 0, retryIntervalMs: 5, timeoutMs: options.timeoutMs ?? 2_000, budgetMs: 5_000 },
  });
  return new FallbackScorer({
    primary: new OllamaScorer({ client }),
    fallback: new BuiltinScorer(),
    logger,
    coolOffMs: 30_000,
    failureThreshold: 2,
    ...(options.now ? { now: options.now } : {}),
  });
}

describe("FallbackScorer", () => {
  it("uses Ollama while it answers", async () => {
    server.behave({ kind: "reply", content: REPLY });
    const result = await fallbackTo(server.host).score(TEXT, signal());
    expect(result.engine).toBe("ollama:qwen2:0.5b");
  });

  it("switches to the built-in engine at once when Ollama refuses connections, then skips it while cooling off", async () => {
    let now = 0;
    const scorer = fallbackTo(`127.0.0.1:${await refusedPort()}`, { now: () => now });
    const unavailable = await metricValue("scoring_fallbacks_total", { reason: "unavailable" });
    const coolingOff = await metricValue("scoring_fallbacks_total", { reason: "cooling_off" });

    const first = await scorer.score(TEXT, signal());
    expect(first).toEqual(new BuiltinScorer().scoreSync(TEXT));
    expect(scorer.primaryAvailable).toBe(false);
    now += 1_000;
    expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    expect(await metricValue("scoring_fallbacks_total", { reason: "unavailable" })).toBe(unavailable + 1);
    expect(await metricValue("scoring_fallbacks_total", { reason: "cooling_off" })).toBe(coolingOff + 1);
  });

  it("tries Ollama again after the cool-off", async () => {
    let now = 0;
    let fail = true;
    const primary: ScoringEngine = {
      name: "ollama:test",
      score: async (text) => {
        if (fail) throw new ScoringError("unavailable", "connection refused");
        return { ...new BuiltinScorer().scoreSync(text), engine: "ollama:test" };
      },
    };
    const scorer = new FallbackScorer({ primary, fallback: new BuiltinScorer(), coolOffMs: 30_000, now: () => now });
    expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    fail = false;
    now += 29_000;
    expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    now += 1_000;
    expect((await scorer.score(TEXT, signal())).engine).toBe("ollama:test");
    expect(scorer.primaryAvailable).toBe(true);
  });

  it("falls back per request on a slow stream, and cools off after repeated timeouts", async () => {
    server.behave({ kind: "stall", content: "{" });
    const scorer = fallbackTo(server.host, { timeoutMs: 150 });
    const timeouts = await metricValue("scoring_fallbacks_total", { reason: "timeout" });
    expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    expect(scorer.primaryAvailable).toBe(true); // one slow answer is not an outage
    expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    expect(scorer.primaryAvailable).toBe(false);
    expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    expect(server.chatRequests).toHaveLength(2); // the third never waited for Ollama
    expect(await metricValue("scoring_fallbacks_total", { reason: "timeout" })).toBe(timeouts + 2);
  });

  it("falls back on a malformed reply, an overload and a broken stream", async () => {
    const scorer = fallbackTo(server.host);
    for (const behaviour of [
      { kind: "reply", content: "not json at all" },
      { kind: "status", status: 503, error: "server busy" },
      { kind: "break", content: REPLY, chunks: 2 },
    ] as const) {
      server.behave(behaviour);
      expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    }
  });

  it("falls back when this node's own LLM queue is full, without taking Ollama for down", async () => {
    let full = true;
    const primary: ScoringEngine = {
      name: "ollama:test",
      score: async (text) => {
        if (full) throw new ScoringError("queue_full", "LLM queue full (16 waiting)");
        return { ...new BuiltinScorer().scoreSync(text), engine: "ollama:test" };
      },
    };
    const scorer = new FallbackScorer({ primary, fallback: new BuiltinScorer(), failureThreshold: 2 });
    for (let i = 0; i < 5; i++) expect((await scorer.score(TEXT, signal())).engine).toBe("builtin");
    expect(scorer.primaryAvailable).toBe(true);
    full = false;
    expect((await scorer.score(TEXT, signal())).engine).toBe("ollama:test");
  });

  it("keeps a conversation on the built-in engine once one of its scores fell back; other conversations go on with Ollama", async () => {
    let failNext = false;
    const primary: ScoringEngine = {
      name: "ollama:test",
      score: async (text) => {
        if (failNext) {
          failNext = false;
          throw new ScoringError("timeout", "LLM reply too slow");
        }
        return { ...new BuiltinScorer().scoreSync(text), score: 90, engine: "ollama:test" };
      },
    };
    const node = new FallbackScorer({ primary, fallback: new BuiltinScorer(), failureThreshold: 3 });
    const kept = await metricValue("scoring_fallbacks_total", { reason: "conversation_fell_back" });
    const one = node.forConversation();
    const other = node.forConversation();
    expect((await one.score(TEXT, signal())).engine).toBe("ollama:test");
    failNext = true; // one slow reply: this score falls back
    expect((await one.score(TEXT, signal())).engine).toBe("builtin");
    // Ollama answers again, but this conversation stays with the engine of its latest score.
    for (let i = 0; i < 3; i++) expect((await one.score(TEXT, signal())).engine).toBe("builtin");
    expect((await other.score(TEXT, signal())).engine).toBe("ollama:test");
    expect(node.primaryAvailable).toBe(true);
    // Each is still a fallback for the metric (and the alert on its rate).
    expect(await metricValue("scoring_fallbacks_total", { reason: "conversation_fell_back" })).toBe(kept + 3);
  });

  it("logs a conversation's fallbacks and retries with its session id", async () => {
    const lines = (sink: string[]) => sink.map((line) => JSON.parse(line) as Record<string, unknown>);
    const nodeLines: string[] = [];
    const sessionLines: string[] = [];
    const nodeLog = pino({ level: "debug" }, { write: (line: string) => nodeLines.push(line) });
    const sessionLog = pino({ level: "debug" }, { write: (line: string) => sessionLines.push(line) }).child({
      sessionId: "s-42",
    });
    const client = new OllamaClient({
      host: server.host,
      retry: { maxRetry: 1, retryIntervalMs: 5, timeoutMs: 2_000, budgetMs: 5_000 },
      logger: nodeLog,
    });
    const node = new FallbackScorer({
      primary: new OllamaScorer({ client }),
      fallback: new BuiltinScorer(),
      logger: nodeLog,
      failureThreshold: 1,
    });
    server.behave({ kind: "status", status: 503, error: "server busy" });
    expect((await node.forConversation(sessionLog).score(TEXT, signal())).engine).toBe("builtin");
    const messages = lines(sessionLines).map((line) => line.msg);
    expect(messages).toEqual(["LLM attempt failed, retrying", "scoring engine down, using the built-in engine"]);
    expect(lines(sessionLines).every((line) => line.sessionId === "s-42")).toBe(true);
    expect(nodeLines).toEqual([]); // nothing about this conversation went out without its id
  });

  it("passes a request's queue priority on to the primary, in a conversation too", async () => {
    const priorities: unknown[] = [];
    const primary: ScoringEngine = {
      name: "ollama:test",
      score: async (text, _signal, _log, priority) => {
        priorities.push(priority);
        return { ...new BuiltinScorer().scoreSync(text), engine: "ollama:test" };
      },
    };
    const node = new FallbackScorer({ primary, fallback: new BuiltinScorer() });
    await node.score(TEXT, signal(), logger, "urgent");
    await node.forConversation(logger).score(TEXT, signal(), undefined, "routine");
    await node.forConversation(logger).score(TEXT, signal());
    expect(priorities).toEqual(["urgent", "routine", undefined]);
  });

  it("does not fall back when the caller cancels", async () => {
    server.behave({ kind: "stall" });
    const controller = new AbortController();
    const pending = fallbackTo(server.host).score(TEXT, controller.signal);
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toMatchObject({ reason: "aborted" });
  });
});

describe("createScoring", () => {
  it("is the built-in engine when no Ollama host is configured", () => {
    expect(createScoringEngine({ logger }).name).toBe("builtin");
    expect(createScoring({ ollamaHost: "  ", logger }).planner.name).toBe("builtin");
  });

  it("is Ollama with the built-in fallback when a host is configured", async () => {
    server.behave({ kind: "reply", content: REPLY });
    const scoring = createScoring({ ollamaHost: server.host, model: "qwen2:0.5b", timeoutMs: 2_000, logger });
    expect(scoring.engine.name).toBe("ollama:qwen2:0.5b|builtin");
    expect((await scoring.engine.score(TEXT, signal())).engine).toBe("ollama:qwen2:0.5b");
    expect(await scoring.ollama?.probe(signal())).toEqual({ reachable: true, modelPresent: true });
  });
});

describe("score events and the final-score metric", () => {
  const result: FeedbackScoreResult = { ...new BuiltinScorer().scoreSync(TEXT) };

  it("carries every part on the live topic", () => {
    const event = scoreEvent("s-1", result, { throughSegmentId: 4, isFinal: true });
    expect(event.kind.case).toBe("score");
    expect(event.kind.value).toMatchObject({
      sessionId: "s-1",
      score: result.score,
      topics: result.topics,
      hint: result.hint,
      engine: "builtin",
      isFinal: true,
      throughSegmentId: 4,
    });
  });

  it("observes final scores in feedback_quality_score", async () => {
    const before = await histogramCount("feedback_quality_score");
    observeFinalScore(result);
    observeFinalScore(42);
    expect(await histogramCount("feedback_quality_score")).toBe(before + 2);
  });
});
