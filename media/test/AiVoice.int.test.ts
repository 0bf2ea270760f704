// AiVoice against a real mediasoup worker: its producer is consumed on a
// DirectTransport and every RTP packet the router forwards is checked.
import type { types as ms } from "mediasoup";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { AiVoice } from "../src/AiVoice.ts";
import { MediaWorkerPool } from "../src/MediaWorkerPool.ts";
import { OpusPcmDecoder } from "../src/opus.ts";
import { newRtpView, readRtpHeader } from "../src/rtp.ts";
import { builtWorkerBin } from "./workerBin.ts";

const RATE = 16_000;

function tone(ms: number, hz = 1_000, amplitude = 12_000): Int16Array {
  const n = Math.round((ms * RATE) / 1_000);
  return Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / RATE)));
}

interface Received {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  ssrc: number;
  payload: Uint8Array;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits until the packet count stops changing (the worker has forwarded everything sent). */
async function settle(packets: Received[], sent: () => number): Promise<void> {
  await waitFor(() => packets.length >= sent(), `${sent()} packets (got ${packets.length})`);
  await sleep(100);
}

function rms(pcm: Int16Array): number {
  let e = 0;
  for (const s of pcm) e += s * s;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

describe("AiVoice (real mediasoup worker)", () => {
  let pool: MediaWorkerPool;
  let router: ms.Router;
  let release: () => void;
  const cleanups: (() => void)[] = [];

  beforeAll(async () => {
    pool = await MediaWorkerPool.create({
      workers: 1,
      rtcMinPort: 40_000,
      rtcMaxPort: 49_999,
      workerBin: builtWorkerBin(),
      logger: pino({ level: "silent" }),
    });
    const lease = pool.acquireRouter();
    if (!lease) throw new Error("no router");
    router = lease.router;
    release = lease.release;
  });

  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    vi.restoreAllMocks();
  });

  afterAll(() => {
    release?.();
    pool?.close();
  });

  /** An AiVoice, its producer consumed on a DirectTransport, every forwarded packet recorded. */
  async function setup() {
    const voice = await AiVoice.create(router);
    const transport = await router.createDirectTransport();
    const consumer = await transport.consume({
      producerId: voice.producer.id,
      rtpCapabilities: router.rtpCapabilities,
    });
    cleanups.push(() => {
      voice.close();
      transport.close();
    });
    const packets: Received[] = [];
    const view = newRtpView();
    consumer.on("rtp", (packet: Buffer) => {
      if (!readRtpHeader(packet, view)) throw new Error("invalid RTP from the consumer");
      packets.push({
        sequenceNumber: view.sequenceNumber,
        timestamp: view.timestamp,
        marker: view.marker,
        ssrc: view.ssrc,
        payload: packet.subarray(view.payloadStart, view.payloadEnd).slice(),
      });
    });
    const send = vi.spyOn(voice.producer, "send");
    return { voice, consumer, packets, sent: () => send.mock.calls.length };
  }

  function expectContiguous(packets: Received[]): void {
    for (let i = 1; i < packets.length; i++) {
      expect(packets[i]!.sequenceNumber, `packet ${i}`).toBe((packets[i - 1]!.sequenceNumber + 1) & 0xffff);
      expect(packets[i]!.timestamp, `packet ${i}`).toBe((packets[i - 1]!.timestamp + 960) >>> 0);
    }
  }

  it("produces an Opus audio track the router accepts", async () => {
    const { voice, consumer } = await setup();
    expect(voice.producer.kind).toBe("audio");
    expect(voice.producer.appData.source).toBe("ai-voice");
    expect(consumer.rtpParameters.codecs[0]?.mimeType.toLowerCase()).toBe("audio/opus");
    expect(voice.speaking).toBe(false);
  });

  it("plays 1 s of a tone as 50 RTP packets of 20 ms that decode to the tone", async () => {
    const { voice, consumer, packets, sent } = await setup();
    const pcm = tone(1_000);
    let firstPacket = 0;
    const playback = voice.play(pcm, () => firstPacket++);
    // Three frames go out at once to fill the browser's jitter buffer.
    expect(sent()).toBe(3);
    expect(firstPacket).toBe(1);
    expect(voice.speaking).toBe(true);

    expect(await playback.ended).toBe("done");
    expect(voice.speaking).toBe(false);
    expect(sent()).toBe(50);
    await settle(packets, sent);

    expect(packets).toHaveLength(50);
    expect(firstPacket).toBe(1);
    expectContiguous(packets);
    expect(packets.map((p) => p.marker)).toEqual([true, ...Array(49).fill(false)]);
    expect(new Set(packets.map((p) => p.ssrc))).toEqual(new Set([consumer.rtpParameters.encodings![0]!.ssrc]));

    const decoder = new OpusPcmDecoder();
    const decoded = new Int16Array(50 * 320);
    for (const [i, p] of packets.entries()) {
      const frame = decoder.decode(p.payload);
      expect(frame.length, `frame ${i}`).toBe(320);
      decoded.set(frame, i * 320);
    }
    // Skip the codec's start-up; the rest is the tone at about its level (RMS of 12000·sin ≈ 8485).
    const body = decoded.subarray(5 * 320);
    expect(rms(body)).toBeGreaterThan(5_000);
    expect(rms(body)).toBeLessThan(12_000);
    // 1 kHz: about two zero crossings per millisecond.
    let crossings = 0;
    for (let i = 1; i < body.length; i++) if (body[i - 1]! < 0 !== body[i]! < 0) crossings++;
    const ms = body.length / 16;
    expect(crossings / ms).toBeGreaterThan(1.8);
    expect(crossings / ms).toBeLessThan(2.2);
  });

  it("pads a last partial frame: 1010 ms of PCM is 51 packets", async () => {
    const { voice, packets, sent } = await setup();
    expect(await voice.play(tone(1_010)).ended).toBe("done");
    await settle(packets, sent);
    expect(packets).toHaveLength(51);
    expectContiguous(packets);
  });

  it("ends at once with done and sends nothing for empty PCM", async () => {
    const { voice, packets, sent } = await setup();
    let firstPacket = 0;
    expect(await voice.play(new Int16Array(0), () => firstPacket++).ended).toBe("done");
    expect(sent()).toBe(0);
    expect(firstPacket).toBe(0);
    await sleep(100);
    expect(packets).toHaveLength(0);
    expect(voice.speaking).toBe(false);
  });

  it("stop() mid-way ends the playback with interrupted, and no packet follows", async () => {
    const { voice, packets, sent } = await setup();
    const playback = voice.play(tone(3_000)); // 150 packets: a slow receiver still sees 10 long before the end
    await waitFor(() => packets.length >= 10, "10 packets");
    playback.stop();
    playback.stop(); // safe twice
    expect(await playback.ended).toBe("interrupted");
    expect(voice.speaking).toBe(false);

    const sentAtStop = sent();
    expect(sentAtStop).toBeGreaterThanOrEqual(10);
    expect(sentAtStop).toBeLessThan(150);
    await settle(packets, sent);
    const received = packets.length;
    await sleep(300);
    expect(sent()).toBe(sentAtStop);
    expect(packets).toHaveLength(received);
    expect(received).toBe(sentAtStop);
    expectContiguous(packets);
  });

  it("interrupt() stops whatever plays", async () => {
    const { voice, sent } = await setup();
    const playback = voice.play(tone(1_000));
    voice.interrupt();
    expect(await playback.ended).toBe("interrupted");
    const count = sent();
    await sleep(200);
    expect(sent()).toBe(count);
    expect(count).toBeLessThan(50);
  });

  it("a second play() stops the first; the stream stays contiguous with a new marker", async () => {
    const { voice, packets, sent } = await setup();
    const first = voice.play(tone(3_000));
    await waitFor(() => packets.length >= 5, "5 packets");
    const second = voice.play(tone(500, 440));
    expect(await first.ended).toBe("interrupted");
    expect(voice.speaking).toBe(true);
    const firstCount = sent() - 3; // the second's prebuffer went out in play()
    expect(firstCount).toBeLessThan(150);

    expect(await second.ended).toBe("done");
    expect(voice.speaking).toBe(false);
    expect(sent()).toBe(firstCount + 25);
    await settle(packets, sent);
    expect(packets).toHaveLength(firstCount + 25);
    // One sequence-number space for the track; a marker at the start of each talkspurt.
    for (let i = 1; i < packets.length; i++)
      expect(packets[i]!.sequenceNumber).toBe((packets[i - 1]!.sequenceNumber + 1) & 0xffff);
    expect(packets.flatMap((p, i) => (p.marker ? [i] : []))).toEqual([0, firstCount]);
    expectContiguous(packets.slice(0, firstCount));
    expectContiguous(packets.slice(firstCount));
  });

  it("stream(): pieces written while playing continue the same talkspurt, and end() finishes it", async () => {
    const { voice, packets, sent } = await setup();
    let firstPacket = 0;
    const stream = voice.stream(() => firstPacket++);
    expect(sent()).toBe(0); // nothing to say yet
    expect(voice.speaking).toBe(true);
    // Pieces that are not whole frames: 1330 + 490 + 190 ms, each padded to whole
    // frames (67 + 25 + 10 = 102) so its encoding can be reused. The later ones
    // are written while the first still plays (it lasts over a second).
    stream.write(tone(1_330));
    expect(sent()).toBe(3);
    expect(firstPacket).toBe(1);
    await waitFor(() => sent() >= 5, "5 packets");
    stream.write(tone(490, 440));
    stream.write(tone(190));
    stream.end();
    stream.end(); // safe twice
    stream.write(tone(500)); // after end(): ignored
    expect(await stream.ended).toBe("done");
    expect(voice.speaking).toBe(false);
    expect(sent()).toBe(102);
    await settle(packets, sent);
    expect(packets).toHaveLength(102);
    expect(firstPacket).toBe(1);
    expectContiguous(packets);
    expect(packets.filter((p) => p.marker)).toHaveLength(1);
  });

  it("two voices saying the same samples send the same Opus payloads (encoded once, for the node)", async () => {
    const a = await setup();
    const b = await setup();
    const question = tone(430, 440);
    expect(await a.voice.play(question).ended).toBe("done");
    // b said something else first: a voice's one encoder would be in another state now.
    expect(await b.voice.play(tone(200, 880)).ended).toBe("done");
    expect(await b.voice.play(question).ended).toBe("done");
    await settle(a.packets, a.sent);
    await settle(b.packets, b.sent);
    expect(a.packets).toHaveLength(22);
    expect(b.packets.slice(10).map((p) => p.payload)).toEqual(a.packets.map((p) => p.payload));
    // Each voice keeps its own RTP stream.
    expect(b.packets[0]!.ssrc).not.toBe(a.packets[0]!.ssrc);
  });

  it("stream(): a piece that comes after the PCM ran out starts a new talkspurt after the pause", async () => {
    const { voice, packets, sent } = await setup();
    const stream = voice.stream();
    stream.write(tone(100)); // 5 frames
    await waitFor(() => sent() === 5, "the first piece");
    await sleep(300); // the next piece is late: the line is quiet meanwhile
    expect(sent()).toBe(5);
    expect(voice.speaking).toBe(true);
    stream.write(tone(200)); // 10 frames
    stream.end();
    expect(await stream.ended).toBe("done");
    await settle(packets, sent);
    expect(packets).toHaveLength(15);
    expect(packets.flatMap((p, i) => (p.marker ? [i] : []))).toEqual([0, 5]);
    expectContiguous(packets.slice(0, 5));
    expectContiguous(packets.slice(5));
    for (let i = 1; i < packets.length; i++)
      expect(packets[i]!.sequenceNumber).toBe((packets[i - 1]!.sequenceNumber + 1) & 0xffff);
    // The RTP clock moved on by about the pause (≥ 300 ms at 48 kHz), so no packet looks late.
    const jump = (packets[5]!.timestamp - packets[4]!.timestamp) >>> 0;
    expect(jump).toBeGreaterThanOrEqual(300 * 48);
    expect(jump).toBeLessThan(5_000 * 48);
  });

  it("stream(): stop() while waiting for a piece ends it with interrupted; later writes send nothing", async () => {
    const { voice, sent } = await setup();
    const stream = voice.stream();
    stream.write(tone(60));
    stream.stop();
    expect(await stream.ended).toBe("interrupted");
    const count = sent();
    stream.write(tone(500));
    stream.end();
    await sleep(150);
    expect(sent()).toBe(count);
    expect(voice.speaking).toBe(false);
  });

  it("stream(): end() with nothing written ends at once with done", async () => {
    const { voice, sent } = await setup();
    let firstPacket = 0;
    const stream = voice.stream(() => firstPacket++);
    stream.end();
    expect(await stream.ended).toBe("done");
    expect(sent()).toBe(0);
    expect(firstPacket).toBe(0);
  });

  it("close() interrupts the playback and closes the producer", async () => {
    const { voice, sent } = await setup();
    const playback = voice.play(tone(1_000));
    voice.close();
    expect(await playback.ended).toBe("interrupted");
    expect(voice.producer.closed).toBe(true);
    const count = sent();
    await sleep(200);
    expect(sent()).toBe(count);
    voice.close(); // safe twice
  });

  // Regression: a worker dying mid-playback must end the playback, never throw
  // from the pacing timer (which would take the process down).
  it("a worker dying mid-playback interrupts the playback without throwing", async () => {
    const own = await MediaWorkerPool.create({
      workers: 1,
      rtcMinPort: 40_000,
      rtcMaxPort: 49_999,
      workerBin: builtWorkerBin(),
      logger: pino({ level: "silent" }),
      respawnDelayMs: 60_000,
    });
    try {
      const lease = own.acquireRouter()!;
      const voice = await AiVoice.create(lease.router);
      const playback = voice.play(tone(2_000));
      await sleep(100);
      own.killWorker(own.describe()[0]!.pid);
      const end = await Promise.race([playback.ended, sleep(3_000).then(() => "never settled")]);
      expect(end).toBe("interrupted");
    } finally {
      own.close();
    }
  });
});
