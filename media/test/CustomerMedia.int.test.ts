// CustomerMedia against a real mediasoup worker: what it leaves on the router
// it shares with every other session of that worker.
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CustomerMedia } from "../src/CustomerMedia.ts";
import { MediaWorkerPool } from "../src/MediaWorkerPool.ts";
import { builtWorkerBin } from "./workerBin.ts";

const logger = pino({ level: "silent" });

describe("CustomerMedia (real mediasoup worker)", () => {
  let pool: MediaWorkerPool;
  beforeAll(async () => {
    pool = await MediaWorkerPool.create({
      workers: 1,
      rtcMinPort: 40_000,
      rtcMaxPort: 49_999,
      workerBin: builtWorkerBin(),
      logger,
    });
  });
  afterAll(() => pool?.close());

  it("leaves nothing on the shared router once closed (the router would keep every ended conversation)", async () => {
    const lease = pool.acquireRouter();
    if (!lease) throw new Error("no router");
    const { router } = lease;
    const baseline = router.observer.listenerCount("close");
    for (let i = 0; i < 20; i++) {
      const media = new CustomerMedia({ router, listenIp: "127.0.0.1", logger, onPcm: () => {} });
      await media.createTransport("send");
      media.close();
      media.close(); // safe twice
    }
    expect(router.observer.listenerCount("close")).toBe(baseline);
    lease.release();
  });

  it("leaves no tap behind when it is closed while the microphone is being set up", async () => {
    const lease = pool.acquireRouter();
    if (!lease) throw new Error("no router");
    const { router } = lease;
    const dtlsParameters = {
      role: "client" as const,
      fingerprints: [{ algorithm: "sha-256" as const, value: Array(32).fill("AB").join(":") }],
    };
    const rtpParameters = {
      codecs: [
        {
          mimeType: "audio/opus",
          payloadType: 111,
          clockRate: 48_000,
          channels: 2,
          parameters: { useinbandfec: 1 },
          rtcpFeedback: [],
        },
      ],
      encodings: [{ ssrc: 4242 }],
      rtcp: { cname: "tap-race" },
    };
    // Closed after 0, 1, 2, ... event-loop turns of produce(): one of them falls inside the tap's setup.
    for (let turns = 0; turns < 40; turns++) {
      const media = new CustomerMedia({ router, listenIp: "127.0.0.1", logger, onPcm: () => {} });
      const send = await media.createTransport("send");
      await media.connectTransport(send.id, dtlsParameters);
      const producing = media.produce(send.id, "audio", rtpParameters).catch(() => undefined);
      for (let t = 0; t < turns; t++) await new Promise((r) => setImmediate(r));
      media.close();
      await producing;
    }
    await new Promise((r) => setTimeout(r, 200)); // closes reach the worker
    expect((await router.dump()).transportIds).toEqual([]);
    lease.release();
  });

  it("gives its media up when the receive transport's DTLS fails, as when the send transport's does", async () => {
    const lease = pool.acquireRouter();
    if (!lease) throw new Error("no router");
    const media = new CustomerMedia({ router: lease.router, listenIp: "127.0.0.1", logger, onPcm: () => {} });
    const reasons: string[] = [];
    media.on("close", (reason) => reasons.push(reason));
    const recv = await media.createTransport("recv");
    // As mediasoup reports a failed handshake or fingerprint check. (signaling's voice-path test fails
    // the send side's DTLS for real; its WebRTC client sets up no receive transport.)
    recv.emit("dtlsstatechange", "failed");
    expect(media.closed).toBe(true);
    expect(reasons).toEqual([CustomerMedia.RECV_TRANSPORT_FAILED]);
    await new Promise((r) => setTimeout(r, 200)); // closes reach the worker
    expect((await lease.router.dump()).transportIds).toEqual([]);
    lease.release();
  });

  it("keeps no failed AI voice: its transport leaves the shared router, and the next call creates one", async () => {
    const lease = pool.acquireRouter();
    if (!lease) throw new Error("no router");
    const { router } = lease;
    const createDirectTransport = router.createDirectTransport.bind(router);
    // The first voice's producer cannot be made (a channel request timing out, say).
    const spy = vi.spyOn(router, "createDirectTransport").mockImplementationOnce(async (options) => {
      const transport = await createDirectTransport(options);
      vi.spyOn(transport, "produce").mockRejectedValueOnce(new Error("injected produce failure"));
      return transport;
    });
    try {
      const media = new CustomerMedia({ router, listenIp: "127.0.0.1", logger, onPcm: () => {} });
      await expect(media.aiVoice()).rejects.toThrow("injected produce failure");
      await new Promise((r) => setTimeout(r, 200)); // the close reaches the worker
      expect((await router.dump()).transportIds).toEqual([]);
      const voice = await media.aiVoice();
      expect(voice.producer.closed).toBe(false);
      expect(await media.aiVoice()).toBe(voice); // a voice that was made is kept
      media.close();
    } finally {
      spy.mockRestore();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect((await router.dump()).transportIds).toEqual([]);
    lease.release();
  });

  it("gives a microphone whose tap failed back, so that a retry sets it up with its decoder", async () => {
    const lease = pool.acquireRouter();
    if (!lease) throw new Error("no router");
    const { router } = lease;
    const dtlsParameters = {
      role: "client" as const,
      fingerprints: [{ algorithm: "sha-256" as const, value: Array(32).fill("AB").join(":") }],
    };
    const rtpParameters = (ssrc: number) => ({
      codecs: [
        {
          mimeType: "audio/opus",
          payloadType: 111,
          clockRate: 48_000,
          channels: 2,
          parameters: { useinbandfec: 1 },
          rtcpFeedback: [],
        },
      ],
      encodings: [{ ssrc }],
      rtcp: { cname: "tap-failure" },
    });
    // The tap's transport cannot be made once (a channel request timing out, say).
    const spy = vi
      .spyOn(router, "createDirectTransport")
      .mockRejectedValueOnce(new Error("Channel request timeout (injected)"));
    const media = new CustomerMedia({ router, listenIp: "127.0.0.1", logger, onPcm: () => {} });
    try {
      const send = await media.createTransport("send");
      await media.connectTransport(send.id, dtlsParameters);
      await expect(media.produce(send.id, "audio", rtpParameters(1111))).rejects.toThrow("Channel request timeout");
      expect(media.producerId).toBeUndefined();
      await new Promise((r) => setTimeout(r, 200)); // the close reaches the worker
      expect((await send.dump()).producerIds).toEqual([]);
      // The app's retry: a microphone whose audio reaches the decoder.
      const producer = await media.produce(send.id, "audio", rtpParameters(2222));
      expect(media.producerId).toBe(producer.id);
      expect(media.audioStats).toBeDefined();
      expect((await send.dump()).producerIds).toEqual([producer.id]);
    } finally {
      spy.mockRestore();
      media.close();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect((await router.dump()).transportIds).toEqual([]);
    lease.release();
  });

  it("is still closed with 'media worker lost' when its router closes under it", async () => {
    // The pool's router, closed by hand as a dying worker would close it (the last test of this file).
    const own = pool.acquireRouter();
    if (!own) throw new Error("no router");
    const media = new CustomerMedia({ router: own.router, listenIp: "127.0.0.1", logger, onPcm: () => {} });
    const reasons: string[] = [];
    media.on("close", (reason) => reasons.push(reason));
    own.router.close();
    expect(media.closed).toBe(true);
    expect(reasons).toEqual([CustomerMedia.WORKER_LOST]);
    own.release();
  });
});
