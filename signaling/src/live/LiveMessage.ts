// One published envelope as its subscribers see it. Encodings are made at
// most once and shared: a thousand dashboards receiving the same event cost
// one encoding, not a thousand. The event itself is encoded once for both
// the customer's frame and the envelope (a message field is its bytes
// behind a tag and a length).
import { create, toBinary } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/ws";
import { lengthDelimited, lengthDelimitedTag } from "./lengthDelimited.ts";

const ENVELOPE_EVENT_TAG = lengthDelimitedTag(LiveEnvelopeSchema.field.event!.number);
const SERVER_MESSAGE_EVENT_TAG = lengthDelimitedTag(ServerMessageSchema.field.event!.number);

export class LiveMessage {
  readonly envelope: LiveEnvelope;
  #envelopeBytes: Uint8Array | undefined;
  #serverFrame: Uint8Array | undefined;
  #eventBytes: Uint8Array | undefined;

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
    if (this.#envelopeBytes) return this.#envelopeBytes;
    const { event } = this.envelope;
    this.#envelopeBytes = event
      ? lengthDelimited(
          ENVELOPE_EVENT_TAG,
          this.#encodedEvent(),
          toBinary(LiveEnvelopeSchema, { ...this.envelope, event: undefined }),
        )
      : toBinary(LiveEnvelopeSchema, this.envelope);
    return this.#envelopeBytes;
  }

  /** The event as a `parley.ws.v1.ServerMessage` frame, ready for a customer's socket. */
  serverFrame(): Uint8Array {
    this.#serverFrame ??= lengthDelimited(SERVER_MESSAGE_EVENT_TAG, this.#encodedEvent());
    return this.#serverFrame;
  }

  #encodedEvent(): Uint8Array {
    this.#eventBytes ??= toBinary(LiveEventSchema, this.envelope.event ?? create(LiveEventSchema));
    return this.#eventBytes;
  }
}
