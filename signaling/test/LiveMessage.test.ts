// A live event is encoded once and put into both the customer's frame and the
// envelope other nodes and dashboards get: both must decode to the event.
import { create, fromBinary } from "@bufbuild/protobuf";
import { LiveEnvelopeSchema } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/ws";
import { describe, expect, it } from "vitest";
import { LiveMessage } from "../src/live/LiveMessage.ts";

const envelopeWith = (text: string) =>
  create(LiveEnvelopeSchema, {
    sessionId: "s1",
    storeCode: "demo",
    businessId: "b",
    seq: 9n,
    event: {
      kind: { case: "transcript", value: { sessionId: "s1", segmentId: 4, text, isFinal: true, startMs: 1200 } },
    },
  });

describe("LiveMessage", () => {
  it("encodes the event once for the customer's frame and the envelope, both decoding to it, at any length", () => {
    for (const chars of [0, 5, 127, 128, 300, 20_000, 70_000]) {
      const envelope = envelopeWith("y".repeat(chars));
      const message = new LiveMessage(envelope);
      expect(fromBinary(LiveEnvelopeSchema, message.envelopeBytes())).toEqual(envelope);
      const frame = fromBinary(ServerMessageSchema, message.serverFrame());
      expect(frame.kind.case).toBe("event");
      expect(frame.kind.value).toEqual(envelope.event);
      expect(message.serverFrame()).toBe(message.serverFrame()); // made once
    }
  });

  it("encodes an envelope without an event, and an empty event for the customer", () => {
    const envelope = create(LiveEnvelopeSchema, { sessionId: "s2", businessId: "b", seq: 1n });
    const message = new LiveMessage(envelope);
    expect(fromBinary(LiveEnvelopeSchema, message.envelopeBytes())).toEqual(envelope);
    const frame = fromBinary(ServerMessageSchema, message.serverFrame());
    expect(frame.kind.case).toBe("event");
  });

  it("passes on the bytes an envelope arrived with", () => {
    const bytes = new LiveMessage(envelopeWith("from another node")).envelopeBytes();
    const received = new LiveMessage(fromBinary(LiveEnvelopeSchema, bytes), bytes);
    expect(received.envelopeBytes()).toBe(bytes);
  });
});
