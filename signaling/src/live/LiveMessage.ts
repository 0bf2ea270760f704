// One published envelope as its subscribers see it. Encodings are made at
// most once and shared: a thousand dashboards receiving the same event cost
// one encoding, not a thousand.
import { create, toBinary } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/ws";

export class LiveMessage {
  readonly envelope: LiveEnvelope;
  #envelopeBytes: Uint8Array | undefined;
  #serverFrame: Uint8Array | undefined;

  /** `envelopeBytes`: the envelope's wire form when it arrived as bytes (from another node). */
  constructor(envelope: LiveEnvelope, envelopeBytes?: Uint8Array) {
    this.envelope = envelope;
    this.#envelopeBytes = envelopeBytes;
  }

  get event(): LiveEvent | undefined {
    return this.envelope.event;
  }

  get sessionId(): string {
    return this.envelope.sessionId;
  }

  /** The envelope's wire form, for other nodes. */
  envelopeBytes(): Uint8Array {
    this.#envelopeBytes ??= toBinary(LiveEnvelopeSchema, this.envelope);
    return this.#envelopeBytes;
  }

  /** The event as a `parley.ws.v1.ServerMessage` frame, ready for a customer's socket. */
  serverFrame(): Uint8Array {
    this.#serverFrame ??= toBinary(
      ServerMessageSchema,
      create(ServerMessageSchema, { kind: { case: "event", value: this.envelope.event ?? create(LiveEventSchema) } }),
    );
    return this.#serverFrame;
  }
}
