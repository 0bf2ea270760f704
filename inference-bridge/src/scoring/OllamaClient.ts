// One node's connection to Ollama: structured chat over a streamed /api/chat,
// with a per-attempt timeout, retries within a total budget, a bounded queue,
// error classification and the llm_* metrics. Used by the Ollama scorer and
// the LLM follow-up planner, so both share one queue.
import { type Message, Ollama, type Options } from "ollama";
import type { Logger } from "pino";
import { backoffMs, type RetryPolicy } from "../retry.ts";
import { BoundedQueue } from "./BoundedQueue.ts";
import { llmFailures, llmQueueSize, llmRequestDuration, llmTimeToFirstToken, llmTokens } from "./metrics.ts";
import { abortedError, type LlmPriority, ScoringError } from "./types.ts";

/** RetryPolicy plus the time all attempts together may take (queueing and backoff included). */
export interface LlmRetryPolicy extends RetryPolicy {
  budgetMs: number;
}

// A 0.5B model on CPU answers a short transcript in about a second; beyond
// a few seconds the built-in score is the better answer.
export const DEFAULT_LLM_RETRY: LlmRetryPolicy = {
  maxRetry: 2,
  retryIntervalMs: 100,
  timeoutMs: 4_000,
  budgetMs: 6_000,
};

export interface OllamaClientOptions {
  /** OLLAMA_HOST, e.g. "127.0.0.1:11434" or "http://gpu-1:11434". */
  host: string;
  retry?: Partial<LlmRetryPolicy>;
  maxConcurrent?: number;
  maxWaiting?: number;
  /** A reply longer than this (characters) is a runaway generation: malformed. */
  maxReplyChars?: number;
  logger?: Logger;
}

export interface ChatJsonRequest {
  model: string;
  messages: Message[];
  /** JSON schema of the reply (Ollama's structured outputs). */
  format: object;
  options?: Partial<Options>;
  /** Its place in this node's queue (default "routine"); not sent to Ollama. */
  priority?: LlmPriority;
}

/** Connection errors after which retrying soon is pointless: nobody is listening. */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const BROKEN = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);
const MIN_ATTEMPT_MS = 50;

function errorCodes(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== "object" || depth > 4) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === "string" ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...nested, ...errorCodes(e.cause, depth + 1)];
}

/** Maps what fetch, undici and the ollama client throw to a ScoringError. */
export function classifyLlmError(err: unknown): ScoringError {
  if (err instanceof ScoringError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const status = (err as { status_code?: unknown } | undefined)?.status_code;
  if (typeof status === "number") {
    if (status === 503 || status === 429)
      return new ScoringError("overloaded", message, { retryable: true, status, cause: err });
    if (status === 404) return new ScoringError("model_not_found", message, { status, cause: err });
    return new ScoringError("http_error", message, { retryable: status >= 500, status, cause: err });
  }
  const codes = errorCodes(err);
  if (codes.some((c) => UNREACHABLE.has(c)))
    return new ScoringError("unavailable", `Ollama unreachable: ${codes.join(",")}`, { cause: err });
  // undici reports a body cut short as TypeError("terminated"); the ollama client
  // throws when a stream ends without its `done` line.
  if (codes.some((c) => BROKEN.has(c)) || message === "terminated" || message.includes("Did not receive done")) {
    return new ScoringError("stream_broken", message, { retryable: true, cause: err });
  }
  // The client rethrows an {"error": "..."} line of the stream as a plain Error.
  return new ScoringError("model_error", message, { retryable: true, cause: err });
}

export class OllamaClient {
  readonly host: string;
  readonly retry: LlmRetryPolicy;
  readonly #queue: BoundedQueue;
  readonly #maxReplyChars: number;
  readonly #logger: Logger | undefined;

  constructor(options: OllamaClientOptions) {
    this.host = options.host;
    this.retry = { ...DEFAULT_LLM_RETRY, ...options.retry };
    this.#maxReplyChars = options.maxReplyChars ?? 4_096;
    this.#logger = options.logger;
    this.#queue = new BoundedQueue({
      maxConcurrent: options.maxConcurrent ?? 4,
      maxWaiting: options.maxWaiting ?? 16,
      onWaitingChange: (n) => llmQueueSize.set(n),
    });
  }

  get queue(): { running: number; waiting: number } {
    return { running: this.#queue.running, waiting: this.#queue.waiting };
  }

  /**
   * Streams one structured chat and hands the whole reply to `parse` (which
   * throws a "malformed" ScoringError to reject it). Retries retryable
   * failures with backoff while the budget lasts; rejects with a ScoringError.
   * `log`: the caller's logger (with its session id), else the client's.
   */
  async chatJson<T>(
    request: ChatJsonRequest,
    parse: (content: string) => T,
    signal: AbortSignal,
    log: Logger | undefined = this.#logger,
  ): Promise<T> {
    if (signal.aborted) throw abortedError(signal);
    const budget = new AbortController();
    const budgetTimer = setTimeout(
      () => budget.abort(new ScoringError("timeout", `LLM budget of ${this.retry.budgetMs} ms spent`)),
      this.retry.budgetMs,
    );
    const deadline = performance.now() + this.retry.budgetMs;
    const bounded = AbortSignal.any([signal, budget.signal]);
    try {
      for (let attempt = 0; ; attempt++) {
        let error: ScoringError;
        try {
          return await this.#attempt(
            request,
            parse,
            signal,
            bounded,
            Math.min(this.retry.timeoutMs, deadline - performance.now()),
          );
        } catch (err) {
          error = err as ScoringError;
        }
        if (error.reason === "aborted") throw error;
        llmFailures.inc({ reason: error.reason });
        const wait = backoffMs(this.retry, attempt);
        if (
          !error.retryable ||
          attempt >= this.retry.maxRetry ||
          deadline - performance.now() - wait < MIN_ATTEMPT_MS
        ) {
          throw error;
        }
        log?.debug({ reason: error.reason, attempt, waitMs: wait }, "LLM attempt failed, retrying");
        await sleep(wait, bounded).catch(() => {
          throw signal.aborted
            ? abortedError(signal)
            : new ScoringError("timeout", "LLM budget spent", { cause: error });
        });
      }
    } finally {
      clearTimeout(budgetTimer);
    }
  }

  /** Names of the models the server has (/api/tags). */
  async listModels(signal: AbortSignal): Promise<string[]> {
    try {
      const reply = await this.#client(signal).list();
      return reply.models.map((m) => m.name);
    } catch (err) {
      throw signal.aborted ? abortedError(signal) : classifyLlmError(err);
    }
  }

  async #attempt<T>(
    request: ChatJsonRequest,
    parse: (content: string) => T,
    caller: AbortSignal,
    bounded: AbortSignal,
    timeoutMs: number,
  ): Promise<T> {
    const { priority, ...chat } = request;
    let release: (() => void) | undefined;
    const controller = new AbortController();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => controller.abort(bounded.reason);
    try {
      release = await this.#queue.acquire(bounded, priority);
      bounded.addEventListener("abort", onAbort, { once: true });
      if (bounded.aborted) onAbort(); // fired while the slot was being granted
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new ScoringError("timeout", `no complete LLM reply within ${Math.round(timeoutMs)} ms`));
      }, timeoutMs);
      const started = performance.now();
      const stream = await this.#client(controller.signal).chat({ ...chat, stream: true });
      let content = "";
      let firstTokenSeen = false;
      let promptTokens = 0;
      let completionTokens = 0;
      for await (const part of stream) {
        const piece = part.message?.content ?? "";
        if (piece && !firstTokenSeen) {
          firstTokenSeen = true;
          llmTimeToFirstToken.observe((performance.now() - started) / 1000);
        }
        content += piece;
        if (content.length > this.#maxReplyChars) {
          throw new ScoringError("malformed", `LLM reply longer than ${this.#maxReplyChars} characters`);
        }
        if (part.done) {
          promptTokens = part.prompt_eval_count ?? 0;
          completionTokens = part.eval_count ?? 0;
        }
      }
      llmRequestDuration.observe((performance.now() - started) / 1000);
      llmTokens.inc({ kind: "prompt" }, promptTokens);
      llmTokens.inc({ kind: "completion" }, completionTokens);
      return parse(content);
    } catch (err) {
      if (caller.aborted) throw abortedError(caller);
      if (timedOut || bounded.aborted) {
        throw err instanceof ScoringError && err.reason === "timeout"
          ? err
          : new ScoringError("timeout", "LLM reply too slow", { cause: err });
      }
      throw classifyLlmError(err);
    } finally {
      clearTimeout(timer);
      bounded.removeEventListener("abort", onAbort);
      controller.abort(); // frees the socket when we stopped reading early
      release?.();
    }
  }

  // One client per request: the ollama client's abort() would cancel every
  // stream of a shared instance, and it does not cancel a request still
  // waiting for headers; a fetch bound to this request's signal does both.
  #client(signal: AbortSignal): Ollama {
    return new Ollama({
      host: this.host,
      fetch: (input, init) =>
        fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal }),
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
