// Frames of the dashboard protocol (parley.wall.v1.ServerMessage). A live
// event's frame is built from the envelope's wire form, which the bus already
// made (and shares with other nodes): the frame is a two-to-six-byte header
// in front of those bytes, so no event is encoded again for dashboards.
import { create, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ServerMessageSchema } from "@parley/proto/wall";
import { lengthDelimited, lengthDelimitedTag } from "../live/lengthDelimited.ts";

/** Field 2 (`live`) of ServerMessage. */
const LIVE_TAG = lengthDelimitedTag(2);

/** `ServerMessage{live: envelope}` from the envelope's encoded bytes. */
export const liveFrame = (envelopeBytes: Uint8Array): Uint8Array => lengthDelimited(LIVE_TAG, envelopeBytes);

export type ServerMessageInit = MessageInitShape<typeof ServerMessageSchema>;

export const serverFrame = (message: ServerMessageInit): Uint8Array =>
  toBinary(ServerMessageSchema, create(ServerMessageSchema, message));
