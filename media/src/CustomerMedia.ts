// The media of one customer session: the browser's send transport and its
// single audio Producer, a receive transport for the AI's voice, and the
// server-side tap that turns the Producer's RTP into PCM.
//
// The tap is a Consumer on a DirectTransport: RTP reaches Node through the
// worker's channel, already decrypted, with no UDP socket, port or extra
// kernel hop to manage per session (a PlainTransport would need both and a
// second copy through the kernel). It is the lowest-latency way to get RTP
// into this process.
import { EventEmitter } from "node:events";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { types as ms } from "mediasoup";
import type { Logger } from "pino";
import { AiVoice } from "./AiVoice.ts";
import { MediaListener } from "./MediaListener.ts";
import { type PcmSink, RtpAudioDecoder, type RtpAudioStats } from "./RtpAudioDecoder.ts";

export type Direction = "send" | "recv";

/**
 * A customer's audio may run this far ahead of real time (jitter, a late
 * first packet); beyond it packets are dropped, so RTP timestamps cannot make
 * the node produce audio faster than the customer can speak.
 */
const MAX_AUDIO_AHEAD_MS = 5_000;
/**
 * While the browser sends nothing in a pause (Opus DTX), silence is added
 * this far behind real time: the jitter a packet may have after a pause.
 */
const IDLE_FILL_LAG_MS = 100;

export interface CustomerMediaOptions {
  router: ms.Router;
  listenIp: string;
  announcedAddress?: string;
  logger: Logger;
  onPcm: PcmSink;
  reorderWindowMs?: number;
  /** The pid of the router's mediasoup worker (the admin monitor). */
  workerPid?: number;
}

interface CustomerMediaEvents {
  close: [reason: string];
}

/** The microphone's health from mediasoup's stats (the admin monitor). */
export interface CustomerMediaStats {
  /** The producer's inbound RTP stream. */
  inbound: ms.RtpStreamRecvStats | undefined;
  /** The send transport's, for its receive bitrate and round-trip time. */
  transport: ms.WebRtcTransportStat | undefined;
  /** RTP → PCM: packets, loss and concealment as the decoder saw them. */
  audio: RtpAudioStats | undefined;
}

export class CustomerMedia extends EventEmitter<CustomerMediaEvents> {
  /** The close reason when the router's worker died under the session. */
  static readonly WORKER_LOST = "media worker lost";
  /**
   * The close reason when the customer's send transport's DTLS failed (a
   * handshake or an alert gone wrong). One their side closed (close_notify:
   * the app hanging up, or setting its transports up again) is "DTLS closed".
   */
  static readonly SEND_TRANSPORT_FAILED = "send transport failed";
  /**
   * The close reason when the receive transport's DTLS failed: the AI's
   * voice would go to a dead consumer for the rest of the session, so the
   * media is given up as for the send direction (the session gets fresh media).
   */
  static readonly RECV_TRANSPORT_FAILED = "receive transport failed";
  readonly #options: CustomerMediaOptions;
  readonly #transports = new Map<string, { transport: ms.WebRtcTransport; direction: Direction; connected: boolean }>();
  #producer: ms.Producer | undefined;
  #tapTransport: ms.DirectTransport | undefined;
  #decoder: RtpAudioDecoder | undefined;
  #aiVoice: Promise<AiVoice> | undefined;
  readonly #consumers = new Map<string, ms.Consumer>();
  readonly #listeners = new Set<MediaListener>();
  #closed = false;
  /**
   * On the router, which outlives this session (every session of a worker
   * shares it): removed again in close(), or the router would keep every
   * ended session's media and, through onPcm, its whole conversation.
   */
  readonly #onRouterClose = (): void => this.close(CustomerMedia.WORKER_LOST);

  constructor(options: CustomerMediaOptions) {
    super();
    this.#options = options;
    options.router.observer.once("close", this.#onRouterClose);
  }

  get rtpCapabilities(): ms.RtpCapabilities {
    return this.#options.router.rtpCapabilities;
  }

  /** WebRTC transports the customer has set up (send and receive). */
  get transportCount(): number {
    return this.#transports.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get audioStats(): RtpAudioStats | undefined {
    return this.#decoder?.stats;
  }

  get workerPid(): number | undefined {
    return this.#options.workerPid;
  }

  get producerId(): string | undefined {
    return this.#producer?.id;
  }

  /** The send transport's ICE and DTLS states (the monitor's stage), once it exists. */
  get sendTransportState(): { iceState: string; dtlsState: string } | undefined {
    for (const t of this.#transports.values())
      if (t.direction === "send") return { iceState: t.transport.iceState, dtlsState: t.transport.dtlsState };
    return undefined;
  }

  /** Admins listening in now. */
  get adminListeners(): number {
    return this.#listeners.size;
  }

  /** mediasoup's stats of the microphone and its transport. */
  async stats(): Promise<CustomerMediaStats> {
    const send = [...this.#transports.values()].find((t) => t.direction === "send")?.transport;
    const [inbound, transport] = await Promise.all([
      this.#producer && !this.#producer.closed ? this.#producer.getStats() : Promise.resolve([]),
      send && !send.closed ? send.getStats() : Promise.resolve([]),
    ]);
    return { inbound: inbound[0], transport: transport[0], audio: this.#decoder?.stats };
  }

  /** An admin listens in: the microphone consumed on a new receive transport of this router. */
  async listen(rtpCapabilities: ms.RtpCapabilities): Promise<MediaListener> {
    this.#assertOpen();
    if (!this.#producer) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "the customer's microphone is not on yet");
    const { router, listenIp, announcedAddress } = this.#options;
    const listener = await MediaListener.create({
      router,
      producer: this.#producer,
      listenIp,
      ...(announcedAddress ? { announcedAddress } : {}),
      rtpCapabilities,
    });
    if (this.#closed) {
      listener.close();
      throw new ParleyError(ErrorCode.NOT_FOUND, "session media is closed");
    }
    this.#listeners.add(listener);
    listener.once("close", () => this.#listeners.delete(listener));
    return listener;
  }

  async createTransport(direction: Direction): Promise<ms.WebRtcTransport> {
    this.#assertOpen();
    for (const t of this.#transports.values()) {
      if (t.direction === direction)
        throw new ParleyError(ErrorCode.ALREADY_EXISTS, `a ${direction} transport already exists for this session`);
    }
    const { listenIp, announcedAddress } = this.#options;
    const transport = await this.#options.router.createWebRtcTransport({
      listenInfos: [{ protocol: "udp", ip: listenIp, ...(announcedAddress ? { announcedAddress } : {}) }],
      enableUdp: true,
      enableTcp: false,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 64_000,
    });
    if (this.#closed) {
      transport.close();
      throw new ParleyError(ErrorCode.NOT_FOUND, "session closed");
    }
    this.#transports.set(transport.id, { transport, direction, connected: false });
    transport.observer.once("close", () => this.#transports.delete(transport.id));
    transport.on("dtlsstatechange", (state) => {
      if (state !== "failed" && state !== "closed") return;
      this.#options.logger.warn({ transportId: transport.id, direction, state }, "DTLS ended");
      if (state === "failed")
        this.close(direction === "send" ? CustomerMedia.SEND_TRANSPORT_FAILED : CustomerMedia.RECV_TRANSPORT_FAILED);
      else if (direction === "send") this.close("DTLS closed");
    });
    return transport;
  }

  async connectTransport(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    this.#assertOpen();
    const entry = this.#transport(transportId);
    if (entry.connected) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "transport already connected");
    if (dtlsParameters.fingerprints.length === 0)
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "DTLS parameters carry no fingerprint");
    entry.connected = true;
    try {
      await entry.transport.connect({ dtlsParameters });
    } catch (error) {
      entry.connected = false;
      throw this.#refusal(entry.transport, `cannot connect transport: ${(error as Error).message}`);
    }
  }

  /**
   * New ICE credentials for a transport whose browser changed networks: it gathers candidates
   * on the new one and connects with them; the transport, its producer or consumer stay.
   */
  async restartIce(transportId: string): Promise<ms.IceParameters> {
    this.#assertOpen();
    const entry = this.#transport(transportId);
    try {
      return await entry.transport.restartIce();
    } catch (error) {
      throw this.#refusal(entry.transport, `cannot restart ICE: ${(error as Error).message}`);
    }
  }

  /** Accepts the customer's microphone and starts turning it into PCM. */
  async produce(transportId: string, kind: string, rtpParameters: ms.RtpParameters): Promise<ms.Producer> {
    this.#assertOpen();
    const entry = this.#transport(transportId);
    if (entry.direction !== "send")
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "produce needs the send transport");
    if (!entry.connected) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "connect the transport before producing");
    if (kind !== "audio") throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `only audio is accepted, not "${kind}"`);
    if (this.#producer)
      throw new ParleyError(ErrorCode.ALREADY_EXISTS, "this session already has a microphone producer");
    let producer: ms.Producer;
    try {
      producer = await entry.transport.produce({ kind: "audio", rtpParameters });
    } catch (error) {
      throw this.#refusal(entry.transport, `cannot produce: ${(error as Error).message}`);
    }
    if (this.#closed || this.#producer) {
      producer.close();
      throw new ParleyError(ErrorCode.ALREADY_EXISTS, "this session already has a microphone producer");
    }
    this.#producer = producer;
    try {
      await this.#startTap(producer);
    } catch (error) {
      // A producer without its tap would be heard by no one, and would refuse every retry as
      // ALREADY_EXISTS: it is given up, so that the app's next produce sets the microphone up whole.
      if (this.#producer === producer) this.#producer = undefined;
      producer.close();
      throw error;
    }
    return producer;
  }

  /** The AI's voice on this session's router, created on first use. */
  aiVoice(): Promise<AiVoice> {
    this.#assertOpen();
    if (!this.#aiVoice) {
      const creating = AiVoice.create(this.#options.router).then((voice) => {
        if (this.#closed) voice.close();
        return voice;
      });
      this.#aiVoice = creating;
      // A failure (a channel request timing out, say) is not kept: the next call tries again,
      // rather than the AI staying silent for the rest of the session.
      creating.catch(() => {
        if (this.#aiVoice === creating) this.#aiVoice = undefined;
      });
    }
    return this.#aiVoice;
  }

  /** Sends the AI's voice to the browser on its receive transport; the consumer starts paused. */
  async consumeAiVoice(transportId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ms.Consumer> {
    this.#assertOpen();
    const entry = this.#transport(transportId);
    if (entry.direction !== "recv")
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "the AI's voice needs the recv transport");
    const voice = await this.aiVoice();
    if (!this.#options.router.canConsume({ producerId: voice.producer.id, rtpCapabilities }))
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "this browser cannot receive Opus audio");
    if ([...this.#consumers.values()].some((c) => c.producerId === voice.producer.id))
      throw new ParleyError(ErrorCode.ALREADY_EXISTS, "the AI's voice is already consumed");
    const consumer = await entry.transport.consume({ producerId: voice.producer.id, rtpCapabilities, paused: true });
    this.#consumers.set(consumer.id, consumer);
    consumer.observer.once("close", () => this.#consumers.delete(consumer.id));
    return consumer;
  }

  async resumeConsumer(consumerId: string): Promise<void> {
    this.#assertOpen();
    const consumer = this.#consumers.get(consumerId);
    if (!consumer) throw new ParleyError(ErrorCode.NOT_FOUND, `unknown consumer ${consumerId}`);
    await consumer.resume();
  }

  close(reason = "closed"): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.router.observer.off("close", this.#onRouterClose);
    void this.#aiVoice?.then(
      (voice) => voice.close(),
      () => {},
    );
    this.#decoder?.flush();
    this.#decoder?.close();
    this.#tapTransport?.close();
    for (const listener of this.#listeners) listener.close();
    for (const { transport } of this.#transports.values()) transport.close();
    this.#transports.clear();
    this.#options.logger.info({ reason, audio: this.#decoder?.stats }, "customer media closed");
    try {
      this.emit("close", reason);
    } catch (err) {
      this.#options.logger.error({ err }, "close listener threw");
    }
  }

  async #startTap(producer: ms.Producer): Promise<void> {
    const router = this.#options.router;
    const tap = await router.createDirectTransport();
    // Closed meanwhile (close() saw no tap yet): the tap would stay on the shared router for good.
    const gone = () => this.#closed || producer.closed;
    if (gone()) {
      tap.close();
      return;
    }
    this.#tapTransport = tap;
    let consumer: ms.Consumer;
    try {
      consumer = await tap.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities });
    } catch (error) {
      tap.close();
      if (gone()) return;
      throw error;
    }
    // Closed during consume: no decoder, which would otherwise tick for good without a producer to close it.
    if (gone()) {
      tap.close();
      return;
    }
    const decoder = new RtpAudioDecoder(this.#options.onPcm, {
      ...(this.#options.reorderWindowMs !== undefined ? { reorderWindowMs: this.#options.reorderWindowMs } : {}),
      maxAheadMs: MAX_AUDIO_AHEAD_MS,
      idleFillLagMs: IDLE_FILL_LAG_MS,
    });
    this.#decoder = decoder;
    consumer.on("rtp", (packet) => decoder.push(packet));
    // No packet can follow: what is held goes out, and a quiet timeline stops running.
    producer.observer.once("close", () => {
      decoder.flush();
      decoder.close();
    });
  }

  #transport(transportId: string) {
    const entry = this.#transports.get(transportId);
    if (!entry) throw new ParleyError(ErrorCode.NOT_FOUND, `unknown transport ${transportId}`);
    return entry;
  }

  /**
   * Why mediasoup refused a request: its media went away under it (the worker died, the media is
   * being moved: NOT_FOUND, which the app answers by setting its media up again), else the
   * client's parameters.
   */
  #refusal(transport: ms.WebRtcTransport, message: string): ParleyError {
    if (this.#closed || transport.closed) return new ParleyError(ErrorCode.NOT_FOUND, "session media is closed");
    return new ParleyError(ErrorCode.INVALID_ARGUMENT, message);
  }

  #assertOpen(): void {
    if (this.#closed) throw new ParleyError(ErrorCode.NOT_FOUND, "session media is closed");
  }
}
