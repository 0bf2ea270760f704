// Deterministic doubles for the incremental scorer: a manual clock and an
// engine whose requests resolve only when the test says so.
import type { Logger } from "pino";
import { register } from "prom-client";
import type { Clock } from "../../src/scoring/IncrementalScorer.ts";
import type { FeedbackScoreResult, LlmPriority, ScoringEngine } from "../../src/scoring/types.ts";

export class ManualClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: { id: number; at: number; fn: () => void }[] = [];

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq;
    this.#timers.push({ id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers = this.#timers.filter((t) => t.id !== handle);
  }

  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#now = due.at;
      due.fn();
    }
    this.#now = target;
  }
}

export interface PendingCall {
  text: string;
  signal: AbortSignal;
  priority: LlmPriority | undefined;
  resolve: (result?: FeedbackScoreResult) => void;
  reject: (err: unknown) => void;
}

/** Score = number of words, so a test can tell which text a score judged. */
export const fakeResult = (text: string): FeedbackScoreResult => ({
  score: text.split(/\s+/).filter(Boolean).length,
  specificity: 0,
  actionability: 0,
  sentiment: 0,
  relevance: 0,
  topics: [],
  hint: "",
  engine: "fake",
});

/** Never answers by itself (a slow engine); it also ignores aborts, like a request already on the wire. */
export class DeferredEngine implements ScoringEngine {
  readonly name = "fake";
  readonly calls: PendingCall[] = [];

  score(text: string, signal: AbortSignal, _log?: Logger, priority?: LlmPriority): Promise<FeedbackScoreResult> {
    return new Promise((resolve, reject) => {
      this.calls.push({ text, signal, priority, resolve: (r) => resolve(r ?? fakeResult(text)), reject });
    });
  }

  get last(): PendingCall {
    const call = this.calls.at(-1);
    if (!call) throw new Error("no call yet");
    return call;
  }
}

/** Lets promise callbacks run. */
/** Feedback with a detail, a problem and a wait, as the scoring tests send it. */
export const TEXT = "the barista remembered my order but the card reader failed twice so i waited ten minutes";

/** A model's well-formed answer to TEXT, as the Ollama test server sends it. */
export const REPLY = JSON.stringify({
  specificity: 0.8,
  actionability: 0.7,
  sentiment: -0.4,
  relevance: 0.95,
  score: 78,
  topics: ["service"],
  hint: "say what made the wait long",
});

export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

type Sample = { value: number; labels: Record<string, unknown>; metricName?: string };

async function samples(name: string): Promise<Sample[]> {
  const metric = register.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  return (await metric.get()).values as Sample[];
}

/**
 * A counter's or gauge's current value, summed over the series with these labels
 * (some labels only: several series match, e.g. those exported at 0 from start-up; 0 when none).
 */
export async function metricValue(name: string, labels: Record<string, string> = {}): Promise<number> {
  return (await samples(name))
    .filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}

/** A histogram's observation count. */
export async function histogramCount(name: string): Promise<number> {
  return (await samples(name)).find((v) => v.metricName === `${name}_count`)?.value ?? 0;
}
