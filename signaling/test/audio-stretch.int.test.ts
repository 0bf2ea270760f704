// A customer's sender that stalls and then sends its backlog at once (a
// frozen phone, a stalled network) has its audio placed after the silence the
// node filled meanwhile: nothing is cut, and the metric says how much audio
// came late, which load tests read to flag latency figures it skews.
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { afterAll, describe, expect, it } from "vitest";
import { audioStretchedSeconds } from "../src/metrics.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { startServer } from "./harness.ts";

let server: ParleyServer | undefined;
afterAll(async () => {
  await server?.close();
});

const stretched = async () => (await audioStretchedSeconds.get()).values[0]?.value ?? 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("audio that comes after its place was filled", () => {
  it("is counted in voice_audio_stretched_seconds_total when the session ends", async () => {
    server = await startServer();
    const packets = opusPacketsFromFile(librivoxRecordings()[0]!.wav);
    const customer = await WeriftCustomer.connect(server);
    try {
      const before = await stretched();
      // 1 s in real time, ending quiet (the recording's first frame is silence): a pause may follow.
      await customer.play([...packets.slice(0, 47), ...Array.from({ length: 3 }, () => packets[0]!)]);
      await sleep(800); // the sender stalls: after quiet audio the node fills silence 100 ms behind real time
      for (const p of packets.slice(50, 90)) customer.sendOpus(p); // then 800 ms of backlog at once
      await customer.play(packets.slice(90, 150));
      const ended = await customer.socket.request({ case: "endSession", value: {} }, 35_000);
      expect(ended.case).toBe("sessionEnded");
      // The stall less the node's 100 ms lag, about 0.7 s; a busy machine's late idle ticks fill less of it.
      expect((await stretched()) - before).toBeGreaterThan(0.2);
    } finally {
      await customer.close();
    }
  }, 60_000);
});
