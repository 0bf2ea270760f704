// End of a customer's turn → first byte of the AI's spoken follow-up, with the
// built-in scorer and planner and local text-to-speech (flite), through the
// real path: werift customer → mediasoup → pocketsphinx worker → director →
// flite → Opus → mediasoup Producer. Prints p50/p99; asserts nothing.
//
//   pnpm --filter @parley/signaling exec tsx bench/turn-latency.bench.ts
//   ROUNDS=10 pnpm ... (one customer turn per round)
import type { TurnTiming } from "@parley/inference-bridge";
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { startServer } from "../test/harness.ts";

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

const server = await startServer({ LOG_LEVEL: "warn" });
const recordings = librivoxRecordings();
const timings: TurnTiming[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const recording = recordings[round % recordings.length]!;
    const speech = opusPacketsFromFile(recording.wav, 0.5);
    const silence = Array.from({ length: 200 }, () => speech[0]!); // 4 s: the AI answers in here
    const customer = await WeriftCustomer.connect(server, "demo");
    const director = server.sessions.get(customer.sessionId)?.conversation?.director;
    if (!director) throw new Error("no conversation director");
    const got = new Promise<TurnTiming>((resolve) => director.turnObservers.add(resolve));
    const played = customer.play([...speech, ...silence]);
    const timing = await Promise.race([got, played.then(() => undefined)]);
    await played;
    await customer.close();
    if (timing) timings.push(timing);
    console.log(
      timing
        ? `round ${round + 1}: end of utterance ${timing.endOfUtteranceMs.toFixed(0)} ms, turn end → first byte ${timing.responseMs.toFixed(0)} ms (TTS ${timing.ttsFirstByteMs.toFixed(0)} ms)`
        : `round ${round + 1}: no follow-up within the pause`,
    );
  }
} finally {
  await server.close();
}
const line = (name: string, values: number[]) =>
  console.log(
    `${name.padEnd(44)} p50 ${percentile(values, 50).toFixed(0)} ms  p99 ${percentile(values, 99).toFixed(0)} ms  (n=${values.length})`,
  );
line(
  "end of customer turn → first byte of follow-up",
  timings.map((t) => t.responseMs),
);
line(
  "  of which text-to-speech → first byte",
  timings.map((t) => t.ttsFirstByteMs),
);
line(
  "last voiced frame → turn end (silence rule)",
  timings.map((t) => t.endOfUtteranceMs),
);
process.exit(0);
