// The customer's last voiced frame → first byte of the AI's spoken follow-up,
// and how often the AI cuts in while the customer merely pauses, through the
// real path: werift customer → mediasoup → pocketsphinx worker → director →
// flite → Opus → mediasoup Producer, with the built-in scorer and planner.
//
// Each round is one customer turn from loadtest's turnRecordings.ts (flite sentences
// and real speech, some with one-second pauses inside them), followed by
// silence. Measured in this process on one clock (performance.now()):
//   - the last voiced frame: when the customer sent the packet holding the
//     recording's last 20 ms frame at −40 dBFS or louder (ground truth, not
//     the node's voice detector);
//   - the first byte: when the AI's Producer sent its first RTP packet;
//   - a false interruption: a question (aiTurn) reaching the customer before
//     the recording's last voiced frame was sent.
// Prints p50/p99; asserts nothing. Measures only what happens on the wire,
// so the same file runs against older code for a before/after.
//
//   pnpm --filter @parley/signaling exec tsx bench/turn-latency.bench.ts
//   ROUNDS=26 (default: every recording twice)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  FRAME_MS,
  makeTurnRecordings,
  opusPacketsFromFile,
  type TurnRecording,
  WeriftCustomer,
} from "@parley/loadtest";
import { startServer } from "../test/harness.ts";

const LEAD_S = 0.5;
const TAIL_S = 4; // the AI answers in here (a dangling end waits 2 s)

const work = mkdtempSync(path.join(tmpdir(), "parley-turn-bench-"));
const recordings = makeTurnRecordings(work);
const ROUNDS = Number(process.env.ROUNDS ?? 2 * recordings.length);

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

interface Round {
  recording: TurnRecording;
  /** Last voiced frame sent → first RTP packet of the AI's voice (ms); undefined: no voice in the tail. */
  voiceToFirstByteMs: number | undefined;
  /** Questions that reached the customer before their last voiced frame was sent. */
  earlyQuestions: number;
  /** The node's own view: its last voiced frame → turn end decided (ms). */
  nodeEndOfUtteranceMs: number | undefined;
}

const server = await startServer({ LOG_LEVEL: "warn" });
const rounds: Round[] = [];
try {
  for (let round = 0; round < ROUNDS; round++) {
    const recording = recordings[round % recordings.length]!;
    const speech = opusPacketsFromFile(recording.wav, LEAD_S);
    const silence = Array.from({ length: Math.round((TAIL_S * 1000) / FRAME_MS) }, () => speech[0]!);
    // The packet holding the recording's last voiced 20 ms frame.
    const lastVoicedPacket = Math.ceil(((LEAD_S + recording.lastVoiceS) * 1000) / FRAME_MS) - 1;

    const customer = await WeriftCustomer.connect(server, "demo");
    const session = server.sessions.get(customer.sessionId);
    const director = session?.conversation?.director;
    const media = session?.media;
    if (!director || !media) throw new Error("no conversation");
    const voice = await media.aiVoice();
    let firstByteAt: number | undefined;
    const send = voice.producer.send.bind(voice.producer);
    voice.producer.send = (packet) => {
      firstByteAt ??= performance.now();
      send(packet);
    };
    let nodeEndOfUtteranceMs: number | undefined;
    director.turnObservers.add((timing) => {
      nodeEndOfUtteranceMs ??= timing.endOfUtteranceMs;
    });
    let lastVoicedSentAt = Number.POSITIVE_INFINITY;
    await customer.play([...speech, ...silence], (index, sentAt) => {
      if (index === lastVoicedPacket) lastVoicedSentAt = sentAt;
    });
    const earlyQuestions = customer.socket.messages.filter(
      (m, i) =>
        m.kind.case === "event" &&
        m.kind.value.kind.case === "aiTurn" &&
        customer.socket.arrivals[i]! < lastVoicedSentAt,
    ).length;
    await customer.close();
    const voiceToFirstByteMs =
      firstByteAt !== undefined && firstByteAt > lastVoicedSentAt ? firstByteAt - lastVoicedSentAt : undefined;
    rounds.push({ recording, voiceToFirstByteMs, earlyQuestions, nodeEndOfUtteranceMs });
    console.log(
      `round ${String(round + 1).padStart(2)}  ${recording.id.padEnd(24)} ` +
        (voiceToFirstByteMs === undefined
          ? firstByteAt !== undefined
            ? "AI spoke before the customer's end"
            : "no spoken follow-up in the pause"
          : `last voiced frame → first byte ${voiceToFirstByteMs.toFixed(0).padStart(5)} ms`) +
        (nodeEndOfUtteranceMs === undefined ? "" : `  (node: end of utterance ${nodeEndOfUtteranceMs.toFixed(0)} ms)`) +
        (earlyQuestions > 0 ? `  FALSE INTERRUPTION (${earlyQuestions} question(s) mid-turn)` : ""),
    );
  }
} finally {
  await server.close();
  rmSync(work, { recursive: true, force: true });
}

const line = (name: string, values: number[]) =>
  console.log(
    `${name.padEnd(56)} p50 ${percentile(values, 50).toFixed(0).padStart(5)} ms  p99 ${percentile(values, 99)
      .toFixed(0)
      .padStart(5)} ms  (n=${values.length})`,
  );
const latencies = (filter: (r: Round) => boolean) =>
  rounds.filter((r) => filter(r) && r.voiceToFirstByteMs !== undefined).map((r) => r.voiceToFirstByteMs!);
console.log();
line(
  "last voiced frame → first byte of the AI's voice",
  latencies(() => true),
);
line(
  "  recordings that end cleanly",
  latencies((r) => r.recording.innerPauses === 0),
);
line(
  "  recordings with pauses inside",
  latencies((r) => r.recording.innerPauses > 0),
);
line(
  "  flite",
  latencies((r) => r.recording.source === "flite"),
);
line(
  "  real speech (librivox)",
  latencies((r) => r.recording.source === "librivox"),
);
const paused = rounds.filter((r) => r.recording.innerPauses > 0);
const interrupted = paused.filter((r) => r.earlyQuestions > 0).length;
const pauses = paused.reduce((n, r) => n + r.recording.innerPauses, 0);
console.log(
  `false interruptions: ${interrupted} of ${paused.length} rounds with pauses inside (${pauses} one-second pauses in all)`,
);
const cleanInterrupted = rounds.filter((r) => r.recording.innerPauses === 0 && r.earlyQuestions > 0).length;
if (cleanInterrupted > 0) console.log(`questions before the end of a clean recording: ${cleanInterrupted}`);
const missed = rounds.filter((r) => r.voiceToFirstByteMs === undefined).length;
console.log(`rounds without a spoken follow-up after the customer's end: ${missed} of ${rounds.length}`);
process.exit(0);
