// Frames of the dashboard protocol (parley.wall.v1.ServerMessage). A live
// event's frame is built from the envelope's wire form, which the bus already
// made (and shares with other nodes): the frame is a two-to-six-byte header
// in front of those bytes, so no event is encoded again for dashboards.
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ServerMessageSchema } from "@parley/proto/wall";

/** Field 2 (`live`) of ServerMessage, wire type 2 (length-delimited). */
const LIVE_TAG = (2 << 3) | 2;

/** `ServerMessage{live: envelope}` from the envelope's encoded bytes. */
export function liveFrame(envelopeBytes: Uint8Array): Uint8Array {
  let length = envelopeBytes.byteLength;
  let varintBytes = 1;
  for (let v = length; v >= 0x80; v >>>= 7) varintBytes++;
  const frame = new Uint8Array(1 + varintBytes + length);
  frame[0] = LIVE_TAG;
  let at = 1;
  while (length >= 0x80) {
    frame[at++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  frame[at++] = length;
  frame.set(envelopeBytes, at);
  return frame;
}

export type ServerMessageInit = MessageInitShape<typeof ServerMessageSchema>;

export const serverFrame = (message: ServerMessageInit): Uint8Array =>
  toBinary(ServerMessageSchema, create(ServerMessageSchema, message));
