// What lost packets cost the recogniser: word error rate of the CPU speech
// engine (pocketsphinx, offline: each recording decoded whole) on the
// librivox recordings sent as the browser sends them (Opus, 20 ms, wideband;
// the node decodes no in-band FEC) through the node's RtpAudioDecoder with
// its real-time bound (`maxAheadMs`), packets arriving with up to 20 ms of
// jitter and some dropped, the holes filled by the codec's concealment (the
// node's default) against silence (`concealMs: 0`, the node before
// concealment). Random loss at several rates and bursty loss
// (Gilbert-Elliott, bursts of 3 on average), the same packets dropped and
// the same arrival times for both, several seeds. Prints WER per case;
// asserts nothing.
//
//   pnpm --filter @parley/signaling exec tsx bench/packet-loss-wer.bench.ts
//   SEEDS=4 (default)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { corpusWer, librivoxRecordings, opusPacketsFromFile } from "@parley/loadtest";
import { RtpAudioDecoder } from "@parley/media";
import { rtpPacket } from "@parley/media/testing";

const SEEDS = Number(process.env.SEEDS ?? 4);
const ASR_WORKER_DIR = path.resolve(import.meta.dirname, "../../inference-bridge/asr-worker");

/** Dropped packets, by index: `lose(i)` for each packet in order. */
type LossModel = { name: string; lose: (random: () => number) => () => boolean };
const random = (rate: number): LossModel => ({
  name: `random ${rate * 100}%`,
  lose: (r) => () => r() < rate,
});
/** Gilbert-Elliott: enter a burst with p, stay with 2/3 (bursts of 3 on average): `rate` lost overall. */
const bursty = (rate: number): LossModel => ({
  name: `bursts of ~3, ${rate * 100}%`,
  lose: (r) => {
    const stay = 2 / 3;
    const enter = (rate * (1 - stay)) / (1 - rate);
    let inBurst = false;
    return () => {
      inBurst = r() < (inBurst ? stay : enter);
      return inBurst;
    };
  },
});
const MODELS = [random(0.05), random(0.1), random(0.2), bursty(0.1)];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The PCM the node hands the recogniser for these packets, `dropped` ones
 * never arriving, the others at `arrivalMs` (the node's options for the
 * real-time bound; no idle fill: these recordings have no DTX pauses).
 */
function receive(packets: Buffer[], dropped: boolean[], arrivalMs: number[], concealMs: number): Int16Array {
  const chunks: Int16Array[] = [];
  let total = 0;
  let now = 0;
  const decoder = new RtpAudioDecoder(
    (pcm) => {
      chunks.push(pcm.slice());
      total += pcm.length;
    },
    { concealMs, maxAheadMs: 5_000, now: () => now },
  );
  packets.forEach((payload, i) => {
    if (dropped[i]) return;
    now = arrivalMs[i]!;
    decoder.push(rtpPacket(i, i * 960, payload));
    decoder.flush(); // the reorder window's timeout: nothing comes back later here
  });
  decoder.close();
  const pcm = new Int16Array(total);
  let at = 0;
  for (const c of chunks) {
    pcm.set(c, at);
    at += c.length;
  }
  return pcm;
}

/** Raw 16 kHz s16le, which the offline engine reads as it is (no WAV header needed). */
function writePcm(file: string, pcm: Int16Array): void {
  writeFileSync(file, Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
}

const work = mkdtempSync(path.join(tmpdir(), "parley-loss-bench-"));
try {
  const recordings = librivoxRecordings().map((r) => ({ ...r, packets: opusPacketsFromFile(r.wav) }));
  type Case = { model: string; mode: string; files: { file: string; reference: string }[]; lost: number };
  const cases: Case[] = [];
  const clean: Case = { model: "no loss", mode: "-", files: [], lost: 0 };
  cases.push(clean);
  for (const r of recordings) {
    const file = path.join(work, `clean-${r.id}.raw`);
    writePcm(
      file,
      receive(
        r.packets,
        [],
        r.packets.map((_, i) => i * 20),
        100,
      ),
    );
    clean.files.push({ file, reference: r.reference });
  }
  for (const model of MODELS) {
    const byMode = new Map<string, Case>();
    for (const mode of ["concealed", "silence"]) {
      const c: Case = { model: model.name, mode, files: [], lost: 0 };
      byMode.set(mode, c);
      cases.push(c);
    }
    let sent = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      for (const r of recordings) {
        const draw = mulberry32(seed * 7919 + r.id.length * 31 + r.packets.length);
        const lose = model.lose(draw);
        const dropped = r.packets.map((_, i) => i > 0 && lose());
        let arrived = 0;
        const arrivalMs = r.packets.map((_, i) => (arrived = Math.max(arrived, i * 20 + 20 * draw())));
        sent += dropped.length;
        for (const [mode, c] of byMode) {
          c.lost += dropped.filter(Boolean).length;
          const file = path.join(work, `${model.name.replace(/\W+/g, "_")}-${mode}-${seed}-${r.id}.raw`);
          writePcm(file, receive(r.packets, dropped, arrivalMs, mode === "concealed" ? 100 : 0));
          c.files.push({ file, reference: r.reference });
        }
      }
    }
    for (const c of byMode.values()) c.lost /= sent / 100; // per cent of packets
  }
  const files = cases.flatMap((c) => c.files.map((f) => f.file));
  const heard = JSON.parse(
    execFileSync(path.join(ASR_WORKER_DIR, ".venv/bin/python"), ["-m", "parley_asr.offline", ...files], {
      cwd: ASR_WORKER_DIR,
      maxBuffer: 1 << 26,
      encoding: "utf8",
    }),
  ) as Record<string, string>;
  console.log(`${recordings.length} librivox recordings × ${SEEDS} seeds, pocketsphinx offline`);
  console.log("| loss | lost | hole filled with | WER |");
  console.log("| :-- | --: | :-- | --: |");
  for (const c of cases) {
    const wer = corpusWer(c.files.map((f) => ({ reference: f.reference, hypothesis: heard[f.file] ?? "" })));
    console.log(`| ${c.model} | ${c.lost.toFixed(1)} % | ${c.mode} | ${wer.toFixed(3)} |`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
