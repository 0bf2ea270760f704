// Packets lost on the way, through a real node: the hole each leaves is
// filled with the codec's concealment, which the node counts, and the
// customer's words are still recognised.
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { afterAll, describe, expect, it } from "vitest";
import { audioConcealedSeconds, rtpPackets } from "../src/metrics.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { startServer } from "./harness.ts";

let server: ParleyServer | undefined;
afterAll(async () => {
  await server?.close();
});

const concealed = async () => (await audioConcealedSeconds.get()).values[0]?.value ?? 0;
const lostPackets = async () => (await rtpPackets.get()).values.find((v) => v.labels.outcome === "lost")?.value ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("packets lost on the way", () => {
  it("are concealed by the codec, counted in voice_audio_concealed_seconds_total, and the words still heard", async () => {
    server = await startServer();
    const recording = librivoxRecordings()[0]!;
    const packets = opusPacketsFromFile(recording.wav, 0.5, { trailSilenceS: 2 });
    const customer = await WeriftCustomer.connect(server);
    try {
      const before = { concealed: await concealed(), lost: await lostPackets() };
      // One packet in ten lost, from the first second on (real time, like a microphone).
      const start = performance.now();
      let lost = 0;
      for (let i = 0; i < packets.length; i++) {
        const wait = start + i * 20 - performance.now();
        if (wait > 0) await sleep(wait);
        if (i >= 50 && i % 10 === 5) {
          customer.loseOpus();
          lost++;
        } else customer.sendOpus(packets[i]!);
      }
      const ended = await customer.socket.request({ case: "endSession", value: {} }, 35_000);
      expect(ended.case).toBe("sessionEnded");
      expect((await lostPackets()) - before.lost).toBe(lost);
      // 20 ms each, less where a late packet had its hole shortened to keep real time.
      const made = (await concealed()) - before.concealed;
      expect(made).toBeGreaterThan(lost * 0.02 * 0.5);
      expect(made).toBeLessThanOrEqual(lost * 0.02 + 1e-6);
      // The last final of each segment: the words the customer's transcript ends with.
      const finals = new Map<number, string>();
      for (const m of customer.socket.messages)
        if (m.kind.case === "event" && m.kind.value.kind.case === "transcript" && m.kind.value.kind.value.isFinal)
          finals.set(m.kind.value.kind.value.segmentId, m.kind.value.kind.value.text);
      const heard = [...finals.values()].join(" ").split(/\s+/).filter(Boolean);
      expect(heard.length).toBeGreaterThan(recording.reference.split(" ").length / 2);
    } finally {
      await customer.close();
    }
  }, 60_000);
});
