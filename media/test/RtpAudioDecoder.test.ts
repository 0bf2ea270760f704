import { afterEach, describe, expect, it, vi } from "vitest";
import { RtpAudioDecoder } from "../src/RtpAudioDecoder.ts";
import { newRtpView, readRtpHeader } from "../src/rtp.ts";
import { encodeFrames, FRAME_SAMPLES_48K, rtpPacket } from "../src/testing/rtpFixtures.ts";

const FRAME_16K = 320;

/** Collects the PCM timeline and checks that chunks are contiguous. */
function collector() {
  const chunks: Int16Array[] = [];
  let end = 0;
  const sink = (pcm: Int16Array, offset: number) => {
    expect(offset).toBe(end);
    chunks.push(pcm.slice());
    end += pcm.length;
  };
  const timeline = () => {
    const out = new Int16Array(end);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };
  return { sink, timeline };
}

/** Frames (20 ms at 16 kHz) whose energy says "tone". */
function toneFrames(pcm: Int16Array): boolean[] {
  const frames: boolean[] = [];
  for (let f = 0; f + FRAME_16K <= pcm.length; f += FRAME_16K) {
    let energy = 0;
    for (let i = f; i < f + FRAME_16K; i++) energy += pcm[i]! * pcm[i]!;
    frames.push(Math.sqrt(energy / FRAME_16K) > 2000);
  }
  return frames;
}

// Tone in frames 10–19 and 60–69 of 100: easy to locate after decoding.
const isTone = (f: number) => (f >= 10 && f < 20) || (f >= 60 && f < 70);
const payloads = encodeFrames(100, isTone);
const packets = payloads.map((p, i) =>
  rtpPacket((65_500 + i) & 0xffff, (4_294_000_000 + i * FRAME_SAMPLES_48K) >>> 0, p),
);

function expectToneAt(pcm: Int16Array, lostFrames: Set<number> = new Set()) {
  const frames = toneFrames(pcm);
  // Opus has a few ms of algorithmic delay: compare the middle of each burst.
  for (const f of [13, 14, 15, 16, 63, 64, 65, 66]) if (!lostFrames.has(f)) expect(frames[f], `frame ${f}`).toBe(true);
  for (const f of [3, 4, 35, 40, 45, 85, 90]) expect(frames[f], `frame ${f}`).toBe(false);
}

describe("readRtpHeader", () => {
  it("reads sequence, timestamp and payload bounds, with CSRCs, extension and padding", () => {
    const payload = new Uint8Array([1, 2, 3]);
    const packet = new Uint8Array(12 + 4 + 8 + payload.length + 2);
    packet[0] = 0x80 | 0x20 | 0x10 | 1; // padding, extension, one CSRC
    packet[1] = 0x80 | 111;
    packet[2] = 0x12;
    packet[3] = 0x34;
    new DataView(packet.buffer).setUint32(4, 0xdeadbeef);
    packet[16 + 3] = 1; // extension: one 32-bit word
    packet.set(payload, 24);
    packet[packet.length - 1] = 2;
    const view = newRtpView();
    expect(readRtpHeader(packet, view)).toBe(true);
    expect(view).toMatchObject({ sequenceNumber: 0x1234, timestamp: 0xdeadbeef, marker: true, payloadType: 111 });
    expect(Array.from(packet.subarray(view.payloadStart, view.payloadEnd))).toEqual([1, 2, 3]);
  });

  it("rejects what is not RTP", () => {
    const view = newRtpView();
    expect(readRtpHeader(new Uint8Array(5), view)).toBe(false);
    expect(readRtpHeader(new Uint8Array(20), view)).toBe(false); // version 0
  });
});

describe("RtpAudioDecoder", () => {
  afterEach(() => vi.useRealTimers());

  it("decodes an in-order stream (across sequence and timestamp wrap) to 16 kHz with the tone where it was sent", () => {
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink);
    for (const p of packets) decoder.push(p);
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats).toMatchObject({ packets: 100, lost: 0, late: 0 });
  });

  it("keeps duration and alignment when packets are lost", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 30 });
    const lost = new Set([5, 30, 31, 32, 50, 99]);
    for (let i = 0; i < packets.length; i++) {
      if (!lost.has(i)) decoder.push(packets[i]!);
      vi.advanceTimersByTime(20);
    }
    decoder.flush();
    const pcm = timeline();
    // The last packet was lost: the timeline ends where packet 98 ends.
    expect(pcm.length).toBe(99 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats.lost).toBe(5);
    expect(decoder.stats.concealedSamples).toBe(5 * FRAME_16K);
  });

  it("carries the voice on through a lost packet (the codec's concealment), where silence would cut the word", () => {
    vi.useFakeTimers();
    const rms = (pcm: Int16Array, frame: number) => {
      let energy = 0;
      for (let i = frame * FRAME_16K; i < (frame + 1) * FRAME_16K; i++) energy += pcm[i]! * pcm[i]!;
      return Math.sqrt(energy / FRAME_16K);
    };
    const receive = (options: { concealMs?: number }) => {
      const { sink, timeline } = collector();
      const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 30, ...options });
      for (let i = 0; i < packets.length; i++) {
        if (i !== 15) decoder.push(packets[i]!); // mid-tone
        vi.advanceTimersByTime(20);
      }
      return { pcm: timeline(), stats: decoder.stats };
    };
    const concealed = receive({});
    expect(concealed.pcm.length).toBe(100 * FRAME_16K);
    // The tone's level is about 12 000 · 0.7; the concealment continues it, at most fading.
    expect(rms(concealed.pcm, 15)).toBeGreaterThan(2000);
    expect(concealed.stats).toMatchObject({ lost: 1, concealedSamples: FRAME_16K, lossConcealedSamples: FRAME_16K });
    expectToneAt(concealed.pcm);
    const silent = receive({ concealMs: 0 });
    expect(rms(silent.pcm, 15)).toBe(0);
    expect(silent.stats).toMatchObject({ lost: 1, concealedSamples: FRAME_16K, lossConcealedSamples: 0 });
  });

  it("conceals at most concealMs of a long hole, fades out, and fills the rest with silence", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 30, concealMs: 60 });
    for (let i = 0; i < packets.length; i++) {
      if (i < 62 || i > 67) decoder.push(packets[i]!); // 6 packets (120 ms) of the second tone lost
      vi.advanceTimersByTime(20);
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expect(decoder.stats).toMatchObject({
      lost: 6,
      concealedSamples: 6 * FRAME_16K,
      lossConcealedSamples: 3 * FRAME_16K,
    });
    const frames = toneFrames(pcm);
    expect(frames[62]).toBe(true); // concealed
    // The concealment is still loud where it stops: its last frame fades out, with no step into the silence.
    const peak = (from: number, to: number) => Math.max(...Array.from(pcm.subarray(from, to), Math.abs));
    expect(peak(64 * FRAME_16K, 64 * FRAME_16K + 40)).toBeGreaterThan(2000);
    expect(peak(65 * FRAME_16K - 16, 65 * FRAME_16K)).toBeLessThan(400);
    expect(Array.from(pcm.subarray(65 * FRAME_16K, 68 * FRAME_16K)).every((s) => s === 0)).toBe(true);
    expect(frames[68]).toBe(true); // the next packet decodes as sent
  });

  it("conceals a loss whose hole jitter shortened, with the node's real-time bound on", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    let clock = 0;
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 30, maxAheadMs: 5_000, now: () => clock });
    for (let i = 0; i < packets.length; i++) {
      clock = Math.max(i * 20, 10); // the first packet came 10 ms later than the rest
      if (i !== 15) decoder.push(packets[i]!);
      vi.advanceTimersByTime(20);
    }
    const pcm = timeline();
    // The hole may last only as long as real time allows (10 ms), but it is the voice carried on, not a cut.
    expect(decoder.stats).toMatchObject({
      lost: 1,
      concealedSamples: FRAME_16K / 2,
      lossConcealedSamples: FRAME_16K / 2,
    });
    let zeros = 0;
    let longestZeros = 0;
    for (let i = 12 * FRAME_16K; i < 18 * FRAME_16K; i++) {
      zeros = pcm[i] === 0 ? zeros + 1 : 0;
      longestZeros = Math.max(longestZeros, zeros);
    }
    expect(longestZeros).toBeLessThan(8);
    expect(toneFrames(pcm).slice(12, 18)).toEqual([true, true, true, true, true, true]);
  });

  it("restores order of reordered packets without losing any", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 60 });
    const order = packets.map((_, i) => i);
    for (const [a, b] of [
      [12, 14],
      [40, 41],
      [61, 63],
      [80, 82],
    ] as const)
      [order[a], order[b]] = [order[b]!, order[a]!];
    for (const i of order) {
      decoder.push(packets[i]!);
      vi.advanceTimersByTime(20);
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats.lost).toBe(0);
    expect(decoder.stats.reordered).toBeGreaterThan(0);
  });

  it("drops a packet that arrives after its hole was given up on, without shifting audio", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 30 });
    for (let i = 0; i < packets.length; i++) {
      if (i === 20) continue;
      decoder.push(packets[i]!);
      if (i === 25) decoder.push(packets[20]!); // 100 ms late
      vi.advanceTimersByTime(20);
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats).toMatchObject({ lost: 1, late: 1 });
  });

  it("fills DTX pauses (timestamp jumps, sequence continues) with silence", () => {
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink);
    // DTX: frames 30–49 and 75–89 are not sent at all; sequence numbers stay consecutive.
    const sent = payloads.map((p, i) => ({ p, i })).filter(({ i }) => !((i >= 30 && i < 50) || (i >= 75 && i < 90)));
    for (const [n, { p, i }] of sent.entries()) decoder.push(rtpPacket(n, i * FRAME_SAMPLES_48K, p));
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats.lost).toBe(0);
    expect(decoder.stats.concealedSamples).toBe(35 * FRAME_16K);
    expect(decoder.stats.lossConcealedSamples).toBe(0); // a pause is no loss: nothing to carry on
  });

  it("keeps the timeline running in real time through a DTX pause (idleFillLagMs)", () => {
    let now = 0;
    const { sink, timeline } = collector();
    let written = 0;
    const decoder = new RtpAudioDecoder(
      (pcm, offset) => {
        sink(pcm, offset);
        written = offset + pcm.length;
      },
      { idleFillLagMs: 100, now: () => now },
    );
    // Frames 30–49 are silence the sender does not send (DTX); the packets
    // after the pause take 60 ms longer to come. The idle ticker runs every 20 ms.
    const sentAt = (i: number) => (i >= 50 ? i * 20 + 60 : i * 20);
    const sent = [...payloads.keys()].filter((i) => i < 30 || i >= 50);
    let seq = 0;
    for (now = 0; now <= 100 * 20 + 60; now += 20) {
      for (const i of sent) if (sentAt(i) === now) decoder.push(rtpPacket(seq++, i * FRAME_SAMPLES_48K, payloads[i]!));
      decoder.fillIdle();
      // In the middle of the pause the timeline is within the lag (and a tick) of real time.
      if (now === 45 * 20) expect(written).toBeGreaterThanOrEqual((45 * 20 - 100 - 20) * 16);
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats.lost).toBe(0);
    expect(decoder.stats.idleSamples).toBeGreaterThan(10 * FRAME_16K);
    expect(decoder.stats.idleSamples + decoder.stats.concealedSamples).toBe(20 * FRAME_16K);
    decoder.close();
  });

  it("waits for packets held up in the middle of loud audio (a stall, not a pause)", () => {
    let now = 0;
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { idleFillLagMs: 100, now: () => now });
    for (let i = 0; i < 100; i++) {
      now = i * 20;
      // Frames 12–19 (tone) are held up for 300 ms and arrive together.
      if (i < 12 || i >= 27) decoder.push(rtpPacket(i, i * FRAME_SAMPLES_48K, payloads[i]!));
      if (i === 27) for (let j = 12; j < 27; j++) decoder.push(rtpPacket(j, j * FRAME_SAMPLES_48K, payloads[j]!));
      decoder.fillIdle();
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats.idleSamples).toBe(0);
    decoder.close();
  });

  it("keeps whole the audio that comes late into a filled pause (a stall after a quiet packet): the pause is stretched", () => {
    const decodeWithStall = (stallMs: number) => {
      let now = 0;
      const { sink, timeline } = collector();
      const decoder = new RtpAudioDecoder(sink, { idleFillLagMs: 100, now: () => now });
      // Frames 55–69 (the tone is 60–69) are held up after quiet frame 54, then come in one burst
      // (before the last frame, 99, at 1980 ms: the run ends there).
      const arrival = (i: number) => (i >= 55 && i < 70 ? 70 * 20 + stallMs : i * 20);
      for (now = 0; now <= 99 * 20; now += 20) {
        for (let i = 0; i < 100; i++)
          if (arrival(i) === now) decoder.push(rtpPacket(i, i * FRAME_SAMPLES_48K, payloads[i]!));
        decoder.fillIdle();
      }
      decoder.close();
      return { pcm: timeline(), stats: decoder.stats };
    };
    const reference = toneFrames(decodeWithStall(0).pcm).filter(Boolean).length;
    const { pcm, stats } = decodeWithStall(400);
    expect(stats.idleSamples).toBeGreaterThan(0);
    expect(stats.stretchedSamples).toBeGreaterThan(0);
    // Every tone frame is there, later by the stretch; the timeline is longer by it.
    expect(toneFrames(pcm).filter(Boolean).length).toBe(reference);
    expect(pcm.length).toBe(100 * FRAME_16K + stats.stretchedSamples);
  });

  it("follows a sender that went quiet for good for at most maxGapMs", () => {
    let now = 0;
    let samples = 0;
    const decoder = new RtpAudioDecoder((pcm) => (samples += pcm.length), {
      idleFillLagMs: 100,
      maxGapMs: 2_000,
      now: () => now,
    });
    decoder.push(rtpPacket(0, 0, payloads[0]!)); // silence
    for (now = 0; now < 10_000; now += 40) decoder.fillIdle();
    expect(samples).toBe(FRAME_16K + 2_000 * 16);
    decoder.close();
  });

  it("fills a pause from the shared ticker, and stops when closed", async () => {
    let samples = 0;
    const decoder = new RtpAudioDecoder((pcm) => (samples += pcm.length), { idleFillLagMs: 20 });
    decoder.push(rtpPacket(0, 0, payloads[0]!));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(decoder.stats.idleSamples).toBeGreaterThan(0);
    expect(samples).toBe(FRAME_16K + decoder.stats.idleSamples);
    decoder.close();
    const atClose = samples;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(samples).toBe(atClose);
  });

  it("inserts a bounded amount of silence for a timestamp jump, and no audio faster than real time", () => {
    let now = 0;
    let samples = 0;
    const decoder = new RtpAudioDecoder((pcm) => (samples += pcm.length), { maxAheadMs: 1_000, now: () => now });
    decoder.push(rtpPacket(0, 0, payloads[0]!));
    // Half a day ahead, one packet later: at most the second of slack becomes silence.
    decoder.push(rtpPacket(1, 0x7fff_0000, payloads[1]!));
    expect(samples).toBeLessThanOrEqual(16_000 + FRAME_16K);
    // A flood: 10 s of packets within 100 ms of wall-clock time.
    for (let i = 2; i < 500; i++) {
      now += 0.2;
      decoder.push(rtpPacket(i, 0x7fff_0000 + (i - 1) * FRAME_SAMPLES_48K, payloads[i % payloads.length]!));
    }
    expect(samples).toBeLessThanOrEqual(16_000 + 16 * 100 + FRAME_16K); // real time plus the slack
    expect(decoder.stats.excess).toBeGreaterThan(400);
    // Real time goes on: the stream is served again, at real-time pace.
    now += 10_000;
    const before = samples;
    decoder.push(rtpPacket(500, 0x7fff_0000 + 499 * FRAME_SAMPLES_48K, payloads[0]!));
    expect(samples).toBeGreaterThan(before);
    expect(samples).toBeLessThanOrEqual(16 * (now + 1_000));
  });

  it("follows the stream after one stray packet far ahead in sequence (which mediasoup lets through)", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 40 });
    const seq = (i: number) => (30_000 + i) & 0xffff;
    for (let i = 0; i < 30; i++) decoder.push(rtpPacket(seq(i), i * FRAME_SAMPLES_48K, payloads[i]!));
    // 2,000 ahead: within mediasoup's MaxDropout (3,000). The reorder window gives up on the "hole" and plays it.
    decoder.push(rtpPacket(seq(30 + 2_000), 30 * FRAME_SAMPLES_48K, payloads[30]!));
    vi.advanceTimersByTime(60);
    for (let i = 30; i < 100; i++) decoder.push(rtpPacket(seq(i), i * FRAME_SAMPLES_48K, payloads[i]!));
    // Two genuine packets are taken for late ones before the run of them is followed; the third continues
    // the timeline right after the stray (no gap, no overlap: the collector checks).
    const pcm = timeline();
    expect(pcm.length).toBe((30 + 1 + 68) * FRAME_16K);
    expect(toneFrames(pcm.subarray(50 * FRAME_16K)).filter(Boolean).length).toBeGreaterThanOrEqual(9); // frames 60–69
    expect(decoder.stats).toMatchObject({ late: 2, resyncs: 1 });
  });

  it("follows a sender whose sequence numbers restart lower (and its timestamps with them)", () => {
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink);
    for (let i = 0; i < 50; i++) decoder.push(rtpPacket(5_000 + i, 1_000_000 + i * FRAME_SAMPLES_48K, payloads[i]!));
    // A new encoder: sequence 100 (4,900 "behind"), a clock of its own.
    for (let i = 50; i < 100; i++)
      decoder.push(rtpPacket(100 + i - 50, 7_777 + (i - 50) * FRAME_SAMPLES_48K, payloads[i]!));
    const pcm = timeline();
    expect(pcm.length).toBe(98 * FRAME_16K);
    expect(toneFrames(pcm.subarray(50 * FRAME_16K)).filter(Boolean).length).toBeGreaterThanOrEqual(9);
    expect(decoder.stats).toMatchObject({ late: 2, resyncs: 1, lost: 0 });
  });

  it("follows a timestamp jump of 2^31 (which reads as a step back) without shifting the timeline", () => {
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { maxAheadMs: 5_000 });
    for (let i = 0; i < 100; i++) {
      const ts = i * FRAME_SAMPLES_48K + (i >= 50 ? 0x8000_0000 : 0);
      decoder.push(rtpPacket(i, ts >>> 0, payloads[i]!));
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm);
    expect(decoder.stats).toMatchObject({ late: 0, overlapped: 0, resyncs: 1 });
  });

  it("counts a packet dropped because its timestamp did not move on", () => {
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink);
    decoder.push(rtpPacket(0, 0, payloads[0]!));
    decoder.push(rtpPacket(1, 0, payloads[1]!)); // a new sequence number, the same audio time
    decoder.push(rtpPacket(2, FRAME_SAMPLES_48K, payloads[2]!));
    expect(timeline().length).toBe(2 * FRAME_16K);
    expect(decoder.stats).toMatchObject({ overlapped: 1, resyncs: 0 });
  });

  it("takes a burst of late packets (their hole given up on) for late ones, not for a new numbering", () => {
    vi.useFakeTimers();
    const { sink, timeline } = collector();
    const decoder = new RtpAudioDecoder(sink, { reorderWindowMs: 30 });
    // Frames 20–29 are held up in the network and arrive together after frame 35.
    for (let i = 0; i < 100; i++) {
      if (i < 20 || i >= 30) decoder.push(packets[i]!);
      if (i === 35) for (let j = 20; j < 30; j++) decoder.push(packets[j]!);
      vi.advanceTimersByTime(20);
    }
    const pcm = timeline();
    expect(pcm.length).toBe(100 * FRAME_16K);
    expectToneAt(pcm, new Set(Array.from({ length: 10 }, (_, j) => 20 + j)));
    expect(decoder.stats).toMatchObject({ lost: 10, late: 10 });
    expect(decoder.stats.resyncs).toBe(0);
  });

  it("counts garbage instead of throwing", () => {
    const { sink } = collector();
    const decoder = new RtpAudioDecoder(sink);
    decoder.push(new Uint8Array([1, 2, 3]));
    decoder.push(rtpPacket(1, 0, new Uint8Array(0)));
    expect(decoder.stats.invalid).toBe(2);
  });
});

/** One packet as the node reads it: when, and what the sender put in it. */
interface Arrival {
  at: number;
  seq: number;
  timestamp: number;
  payload: Uint8Array;
}

/** Samples louder than half the test tone: where the sender's audio is, wherever it was placed. */
function loudSamples(pcm: Int16Array): number {
  let n = 0;
  for (let i = 0; i < pcm.length; i++) if (Math.abs(pcm[i]!) > 6_000) n++;
  return n;
}

/**
 * A session on an injected clock as the node runs it (maxAheadMs 5 s, idleFillLagMs 100 ms): the
 * idle ticker every 40 ms, and, like a timer after an event-loop stall, before packets that
 * arrive at the same moment. The collector checks that the PCM stays contiguous.
 */
function runSession(arrivals: Arrival[]) {
  let now = 0;
  let loud = 0;
  let end = 0;
  const decoder = new RtpAudioDecoder(
    (pcm, offset) => {
      expect(offset).toBe(end);
      end += pcm.length;
      loud += loudSamples(pcm);
    },
    { maxAheadMs: 5_000, idleFillLagMs: 100, now: () => now },
  );
  let tick = 0;
  for (const a of [...arrivals].sort((x, y) => x.at - y.at || x.seq - y.seq)) {
    for (; tick <= a.at; tick += 40) {
      now = tick;
      decoder.fillIdle();
    }
    now = a.at;
    decoder.push(rtpPacket(a.seq & 0xffff, a.timestamp >>> 0, a.payload));
  }
  decoder.close();
  return { decoder, loud, now, written: decoder.writtenSamples };
}

describe("RtpAudioDecoder: a real-time sender over a long session is never dropped as running ahead", () => {
  // Talk spurts as a browser sends them with DTX: 40 frames of tone, 10 quiet, then 50 frames (1 s) not sent.
  const CYCLE = 100;
  const spurt = encodeFrames(50, (f) => f < 40);
  const spurts = (count: number, firstLateMs: (s: number) => number): Arrival[] => {
    const arrivals: Arrival[] = [];
    for (let s = 0; s < count; s++)
      for (let i = 0; i < 50; i++) {
        const sentAt = (s * CYCLE + i) * 20;
        // A mobile radio waking up after the pause holds the first packets back, then they come together.
        const late = firstLateMs(s);
        arrivals.push({
          at: i * 20 < late ? s * CYCLE * 20 + late : sentAt,
          seq: s * 50 + i,
          timestamp: (s * CYCLE + i) * FRAME_SAMPLES_48K,
          payload: spurt[i]!,
        });
      }
    return arrivals;
  };

  it("keeps every word of 100 talk spurts whose first packets come 250 ms late, then gives the stretch back", () => {
    const reference = runSession(spurts(110, () => 0));
    // 100 spurts held up after their pause, then 10 on time.
    const { decoder, loud, now, written } = runSession(spurts(110, (s) => (s > 0 && s <= 100 ? 250 : 0)));
    expect(decoder.stats.stretchedSamples).toBeGreaterThan(0); // the late packets did land in made-up silence
    expect(decoder.stats).toMatchObject({ excess: 0, late: 0, lost: 0, overlapped: 0 });
    expect(loud).toBe(reference.loud);
    expect(reference.loud).toBeGreaterThan(110 * 38 * FRAME_16K * 0.5);
    // An on-time pause gave the stretch back: the timeline is where the sender's clock says.
    expect(written).toBe(reference.written);
    expect(written).toBe(16 * (now + 20));
  });

  it("keeps every word through a 300 ms event-loop stall every 4 s while quiet, for 4 minutes", () => {
    // No DTX: a packet every 20 ms, 1 s of tone then 1 s quiet.
    const frames = encodeFrames(200, (f) => f % 100 < 50);
    const session = (stalls: boolean): Arrival[] =>
      Array.from({ length: 50 * 240 }, (_, f) => ({
        // Frames 60–74 of every 4 s (quiet) are read only when a 300 ms stall ends, after the idle tick.
        at: stalls && f % 200 >= 60 && f % 200 < 75 ? (f - (f % 200) + 75) * 20 : f * 20,
        seq: f,
        timestamp: f * FRAME_SAMPLES_48K,
        payload: frames[f % 200]!,
      }));
    const reference = runSession(session(false));
    const { decoder, loud, now, written } = runSession(session(true));
    expect(decoder.stats.stretchedSamples).toBeGreaterThan(0);
    expect(decoder.stats).toMatchObject({ excess: 0, late: 0, lost: 0, overlapped: 0 });
    expect(loud).toBe(reference.loud);
    // The timeline runs no further ahead of real time than one stall.
    expect(written).toBeLessThanOrEqual(16 * (now + 20 + 300));
  });

  it("keeps the audio held up for longer than the slack after a quiet packet (6 s)", () => {
    const frames = encodeFrames(50, (f) => f % 50 < 40);
    // Frames 50–349 (6 s) come in one burst at 7 s, after the idle fill has filled most of that time.
    const arrivals = Array.from({ length: 1_000 }, (_, f) => ({
      at: f >= 50 && f < 350 ? 350 * 20 : f * 20,
      seq: f,
      timestamp: f * FRAME_SAMPLES_48K,
      payload: frames[f % 50]!,
    }));
    const reference = runSession(arrivals.map((a) => ({ ...a, at: a.seq * 20 })));
    const { decoder, loud } = runSession(arrivals);
    expect(decoder.stats.stretchedSamples).toBeGreaterThan(5_000 * 16);
    expect(decoder.stats).toMatchObject({ excess: 0, late: 0, lost: 0, overlapped: 0 });
    expect(loud).toBe(reference.loud);
  });

  it("follows forward timestamp jumps with no more silence than real time allows, dropping nothing", () => {
    const frames = encodeFrames(20, (f) => f < 10);
    const jumps = new Map([
      [100, 10 * 48_000], // 10 s
      [400, 3 * 48_000],
      [700, 2 ** 30], // far ahead, yet less than 2^31: still forward
    ]);
    let jumped = 0;
    const arrivals = Array.from({ length: 1_000 }, (_, f) => {
      jumped += jumps.get(f) ?? 0;
      return {
        at: f * 20 + (f % 3), // 0–2 ms of jitter
        seq: f,
        timestamp: f * FRAME_SAMPLES_48K + jumped,
        payload: frames[f % 20]!,
      };
    });
    const { decoder, written } = runSession(arrivals);
    expect(decoder.stats).toMatchObject({ excess: 0, late: 0, lost: 0, overlapped: 0 });
    // Every packet's audio is in the timeline; each jump added at most the jitter as silence.
    expect(decoder.stats.concealedSamples).toBeLessThanOrEqual(jumps.size * 2 * 16);
    expect(written).toBe(1_000 * FRAME_16K + decoder.stats.concealedSamples);
  });

  it("still limits a sender that runs ahead of real time, though its pauses are stretched", () => {
    // Every second: a burst of 2 s of audio (its last frame quiet), then nothing. The sender's
    // clock runs twice as fast as real time; the decoder fills each pause, and each burst comes
    // late into it (its timestamps go on where the last burst ended).
    const frames = encodeFrames(100, (f) => f < 99);
    const arrivals: Arrival[] = [];
    for (let c = 0; c < 60; c++)
      for (let i = 0; i < 100; i++) {
        const f = c * 100 + i;
        arrivals.push({ at: c * 1_000 + i * 0.1, seq: f, timestamp: f * FRAME_SAMPLES_48K, payload: frames[i]! });
      }
    const { decoder, now, written } = runSession(arrivals);
    expect(decoder.stats.excess).toBeGreaterThan(2_000);
    // At most real time, the 5 s of slack, and the longest pause the decoder filled itself.
    expect(written).toBeLessThanOrEqual(16 * (now + 5_000 + 1_000) + FRAME_16K);
  });
});
