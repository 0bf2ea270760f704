// One node's connection to Ollama: structured chat over a streamed /api/chat,
// with a per-attempt timeout, retries within a total budget, a bounded queue,
// error classification and the llm_* metrics. Used by the Ollama scorer and
// the LLM follow-up planner, so both share one queue.
//
// The ollama library parses the stream, but its parser buffers a line without
// bound until a newline comes (re-splitting the whole buffer on each chunk)
// and console.warn()s any line that is not JSON, with the model's raw text.
// So the fetch it is given hands it only bodies that passed guardedBody():
// bounded in size, every NDJSON line checked to be JSON before the library
// sees it. Keeping the library's parser (rather than our own) keeps its
// handling of `done` and of error lines, which classifyLlmError relies on.
import { type Message, Ollama, type Options } from "ollama";
import type { Logger } from "pino";
import { backoffMs, type RetryPolicy } from "../retry.ts";
import { BoundedQueue, nodeBusyError } from "./BoundedQueue.ts";
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
  /**
   * A reply longer than this (characters) is a runaway generation: malformed.
   * The bytes read of a response are bounded by it too (responseLimits).
   */
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
  /** A budget shorter than the client's for this request (a deadline someone waits on); not sent to Ollama. */
  budgetMs?: number;
}

/** The JSON around one line's content (model, timestamps, the done line's counts), with room to spare. */
const LINE_FRAMING_BYTES = 4_096;

/**
 * Byte bounds of what is read from Ollama. A streamed token is a JSON line of
 * about 120 bytes around a few characters, so a reply within maxReplyChars
 * may take several hundred KiB on the wire; but no one line needs more than
 * the whole reply JSON-escaped (at most 6 bytes a character) plus its framing.
 * Past either bound the server is broken: "malformed".
 */
function responseLimits(maxReplyChars: number): { maxBytes: number; maxLineBytes: number } {
  return {
    maxBytes: maxReplyChars * 256 + 16 * LINE_FRAMING_BYTES,
    maxLineBytes: maxReplyChars * 6 + LINE_FRAMING_BYTES,
  };
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
const NEWLINE = 0x0a;
/** Of a non-JSON error body (a proxy's HTML page, say), what is kept as the error's message. */
const MAX_ERROR_TEXT = 200;

function errorCodes(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== "object" || depth > 4) return [];
  const e = err as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === "string" ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...nested, ...errorCodes(e.cause, depth + 1)];
}

/** The ScoringError of an HTTP error status. */
function httpStatusError(status: number, message: string, cause?: unknown): ScoringError {
  if (status === 503 || status === 429)
    return new ScoringError("overloaded", message, { retryable: true, status, cause });
  if (status === 404) return new ScoringError("model_not_found", message, { status, cause });
  return new ScoringError("http_error", message, { retryable: status >= 500, status, cause });
}

/** Maps what fetch, undici and the ollama client throw to a ScoringError. */
export function classifyLlmError(err: unknown): ScoringError {
  if (err instanceof ScoringError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const status = (err as { status_code?: unknown } | undefined)?.status_code;
  if (typeof status === "number") return httpStatusError(status, message, err);
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
  readonly #limits: { maxBytes: number; maxLineBytes: number };
  readonly #logger: Logger | undefined;

  constructor(options: OllamaClientOptions) {
    this.host = options.host;
    this.retry = { ...DEFAULT_LLM_RETRY, ...options.retry };
    this.#maxReplyChars = options.maxReplyChars ?? 4_096;
    this.#limits = responseLimits(this.#maxReplyChars);
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
    const { priority, budgetMs: requestBudgetMs, ...chat } = request;
    const budgetMs = Math.min(this.retry.budgetMs, requestBudgetMs ?? Number.POSITIVE_INFINITY);
    const budget = new AbortController();
    const budgetTimer = setTimeout(
      () => budget.abort(new ScoringError("timeout", `LLM budget of ${budgetMs} ms spent`)),
      budgetMs,
    );
    const deadline = performance.now() + budgetMs;
    const bounded = AbortSignal.any([signal, budget.signal]);
    let retriedFailure: ScoringError | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        let error: ScoringError;
        try {
          return await this.#attempt(chat, priority, parse, signal, bounded, deadline);
        } catch (err) {
          error = err as ScoringError;
        }
        if (error.reason === "aborted") throw error;
        llmFailures.inc({ reason: error.reason });
        // A retry that found no slot in time: the failure that made it retry (Ollama's) is the answer.
        if (error.reason === "queue_full" && retriedFailure) throw retriedFailure;
        retriedFailure = error;
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
    chat: Omit<ChatJsonRequest, "priority" | "budgetMs">,
    priority: LlmPriority | undefined,
    parse: (content: string) => T,
    caller: AbortSignal,
    bounded: AbortSignal,
    deadline: number,
  ): Promise<T> {
    let release: (() => void) | undefined;
    const controller = new AbortController();
    let timedOut = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => controller.abort(bounded.reason);
    const queuedAt = performance.now();
    let waitedMs = 0;
    let attemptMs = 0;
    let started: number | undefined;
    try {
      release = await this.#queue.acquire(bounded, priority);
      waitedMs = performance.now() - queuedAt;
      // Too little budget left for any answer: asking would only load Ollama with a request we then drop.
      attemptMs = Math.min(this.retry.timeoutMs, deadline - performance.now());
      if (attemptMs < MIN_ATTEMPT_MS) throw nodeBusyError(waitedMs);
      bounded.addEventListener("abort", onAbort, { once: true });
      if (bounded.aborted) onAbort(); // fired while the slot was being granted
      started = performance.now();
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort(new ScoringError("timeout", `no complete LLM reply within ${Math.round(attemptMs)} ms`));
      }, attemptMs);
      const stream = await this.#client(controller.signal, "ndjson").chat({ ...chat, stream: true });
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
      // Nothing was sent: no room in the queue, or the budget ran out while this request waited for a slot.
      if (started === undefined) throw bounded.aborted ? nodeBusyError(performance.now() - queuedAt) : err;
      if (timedOut || bounded.aborted) {
        // Out of time. Ollama's fault if it had its whole attempt timeout, or at least as long as this request
        // waited for its slot; else the budget went to this node's queue (Ollama may just be busy, not failing).
        const ollamaMs = performance.now() - started;
        if (attemptMs < this.retry.timeoutMs && waitedMs > ollamaMs) throw nodeBusyError(waitedMs, ollamaMs);
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
  // `body`: "ndjson" for a streamed reply, whose lines are checked one by one.
  #client(signal: AbortSignal, body: "json" | "ndjson" = "json"): Ollama {
    return new Ollama({
      host: this.host,
      fetch: async (input, init) => {
        const response = await fetch(input, {
          ...init,
          signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal,
        });
        // Read error bodies here (bounded) rather than in the library, which reads them whole and console.logs.
        if (!response.ok) throw httpStatusError(response.status, await this.#errorMessage(response));
        if (!response.body) return response;
        const { status, statusText, headers } = response;
        const guard = guardedBody(this.#limits.maxBytes, body === "ndjson" ? this.#limits.maxLineBytes : undefined);
        return new Response(response.body.pipeThrough(guard), { status, statusText, headers });
      },
    });
  }

  /** Ollama's {"error": "..."}, else the start of the body, else the status line. */
  async #errorMessage(response: Response): Promise<string> {
    const fallback = `Error ${response.status}: ${response.statusText}`;
    if (!response.body) return fallback;
    const text = await new Response(response.body.pipeThrough(guardedBody(this.#limits.maxLineBytes))).text();
    try {
      const { error } = JSON.parse(text) as { error?: unknown };
      if (typeof error === "string" && error) return error;
    } catch {
      // not JSON: a proxy's page, say
    }
    return text.trim().slice(0, MAX_ERROR_TEXT) || fallback;
  }
}

/**
 * Passes a response body on as it comes, until it is longer than `maxBytes`
 * or, with `maxLineBytes` (an NDJSON stream), has a line longer than that or
 * one that is not JSON: then it fails with a "malformed" ScoringError, and
 * whoever reads it (the ollama library) never sees that line. The library
 * parses each line again: a small cost, for keeping its stream handling.
 */
function guardedBody(maxBytes: number, maxLineBytes?: number): TransformStream<Uint8Array, Uint8Array> {
  let total = 0;
  let line: Uint8Array[] = [];
  let lineBytes = 0;
  const decoder = new TextDecoder();
  // As the library does: JSON.parse of each line between newlines, and of what follows the last one unless empty.
  const checkLine = (end: boolean) => {
    const text = decoder.decode(Buffer.concat(line));
    line = [];
    lineBytes = 0;
    if (end && text === "") return;
    try {
      JSON.parse(text);
    } catch {
      // No cause: the SyntaxError would quote the model's text.
      throw new ScoringError("malformed", "LLM stream has a line that is not JSON");
    }
  };
  const addToLine = (piece: Uint8Array) => {
    lineBytes += piece.byteLength;
    if (maxLineBytes !== undefined && lineBytes > maxLineBytes)
      throw new ScoringError("malformed", `LLM stream has a line longer than ${maxLineBytes} bytes`);
    line.push(piece);
  };
  return new TransformStream({
    transform(chunk, controller) {
      total += chunk.byteLength;
      if (total > maxBytes) throw new ScoringError("malformed", `LLM response longer than ${maxBytes} bytes`);
      if (maxLineBytes !== undefined) {
        let start = 0;
        for (let newline = chunk.indexOf(NEWLINE); newline >= 0; newline = chunk.indexOf(NEWLINE, start)) {
          addToLine(chunk.subarray(start, newline));
          checkLine(false);
          start = newline + 1;
        }
        addToLine(chunk.subarray(start));
      }
      controller.enqueue(chunk);
    },
    flush() {
      if (maxLineBytes !== undefined) checkLine(true);
    },
  });
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
