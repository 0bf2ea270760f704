import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { LiveEnvelopeSchema } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/wall";
import { describe, expect, it } from "vitest";
import { liveFrame } from "../../src/wall/frames.ts";

describe("a live event's dashboard frame", () => {
  it("is a ServerMessage{live} around the envelope's own bytes, for any length", () => {
    for (const chars of [0, 10, 100, 127, 128, 300, 20_000, 70_000]) {
      const envelope = create(LiveEnvelopeSchema, {
        sessionId: "s1",
        storeCode: "demo",
        businessId: "b",
        seq: 7n,
        event: { kind: { case: "transcript", value: { sessionId: "s1", segmentId: 3, text: "x".repeat(chars) } } },
      });
      const frame = liveFrame(toBinary(LiveEnvelopeSchema, envelope));
      const decoded = fromBinary(ServerMessageSchema, frame);
      expect(decoded.kind.case).toBe("live");
      if (decoded.kind.case !== "live") return;
      expect(decoded.kind.value.seq).toBe(7n);
      const event = decoded.kind.value.event?.kind;
      expect(event?.case === "transcript" && event.value.text.length).toBe(chars);
    }
  });
});
