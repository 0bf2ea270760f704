// An admin listening in to a live session: the customer's microphone
// Producer consumed on a receive WebRtcTransport of the session's own router,
// the way an SFU forwards any stream to another participant. The consumer
// starts paused; the admin's browser resumes it once its side is set up.
// Closes with the transport (router gone), with the producer (the session
// ended), or when the admin stops.
import { EventEmitter } from "node:events";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import type { types as ms } from "mediasoup";

export interface MediaListenerOptions {
  router: ms.Router;
  producer: ms.Producer;
  listenIp: string;
  announcedAddress?: string;
  /** The listening browser's (mediasoup-client Device.rtpCapabilities). */
  rtpCapabilities: ms.RtpCapabilities;
}

interface MediaListenerEvents {
  close: [];
}

export class MediaListener extends EventEmitter<MediaListenerEvents> {
  readonly transport: ms.WebRtcTransport;
  readonly consumer: ms.Consumer;
  #connected = false;
  #closed = false;

  static async create(options: MediaListenerOptions): Promise<MediaListener> {
    const { router, producer, rtpCapabilities } = options;
    if (!router.canConsume({ producerId: producer.id, rtpCapabilities }))
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "this browser cannot receive the customer's audio");
    const transport = await router.createWebRtcTransport({
      listenInfos: [
        {
          protocol: "udp",
          ip: options.listenIp,
          ...(options.announcedAddress ? { announcedAddress: options.announcedAddress } : {}),
        },
      ],
      enableUdp: true,
      enableTcp: false,
    });
    try {
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities, paused: true });
      return new MediaListener(transport, consumer);
    } catch (error) {
      transport.close();
      throw new ParleyError(ErrorCode.NOT_FOUND, `cannot listen: ${(error as Error).message}`);
    }
  }

  private constructor(transport: ms.WebRtcTransport, consumer: ms.Consumer) {
    super();
    this.transport = transport;
    this.consumer = consumer;
    transport.observer.once("close", () => this.close());
    consumer.observer.once("close", () => this.close());
  }

  get closed(): boolean {
    return this.#closed;
  }

  async connect(dtlsParameters: ms.DtlsParameters): Promise<void> {
    if (this.#closed) throw new ParleyError(ErrorCode.NOT_FOUND, "listener closed");
    if (this.#connected) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "listener already connected");
    this.#connected = true;
    try {
      await this.transport.connect({ dtlsParameters });
    } catch (error) {
      this.#connected = false;
      throw new ParleyError(ErrorCode.INVALID_ARGUMENT, `cannot connect: ${(error as Error).message}`);
    }
  }

  async resume(): Promise<void> {
    if (this.#closed) throw new ParleyError(ErrorCode.NOT_FOUND, "listener closed");
    await this.consumer.resume();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.transport.close();
    try {
      this.emit("close");
    } catch {
      /* a listener's failure must not escape close() */
    }
  }
}
