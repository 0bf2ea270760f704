// Session metrics are a bus subscriber that counts this node's sessions only.
import { create } from "@bufbuild/protobuf";
import { EndReason, LiveEnvelopeSchema, LiveEventSchema } from "@parley/proto/live";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import { endStatus, observeSessionMetrics } from "../src/live/sessionMetrics.ts";
import { activeSessions, feedbackSessionsTotal } from "../src/metrics.ts";

const started = (nodeId: string, sessionId: string) =>
  create(LiveEnvelopeSchema, {
    sessionId,
    businessId: "biz-metrics",
    nodeId,
    seq: 1n,
    event: create(LiveEventSchema, { kind: { case: "sessionStarted", value: { sessionId } } }),
  });
const ended = (nodeId: string, sessionId: string, reason: EndReason, score?: number) =>
  create(LiveEnvelopeSchema, {
    sessionId,
    businessId: "biz-metrics",
    nodeId,
    seq: 2n,
    event: create(LiveEventSchema, {
      kind: {
        case: "conversationEnded",
        value: { sessionId, reason, ...(score === undefined ? {} : { finalScore: { sessionId, score } }) },
      },
    }),
  });

const count = async (labels: Record<string, string>) => {
  const metric = await feedbackSessionsTotal.get();
  return metric.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k as "status"] === x))?.value ?? 0;
};

describe("session metrics", () => {
  it("counts starts and outcomes of this node's sessions, not other nodes'", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const stop = observeSessionMetrics(bus, "me");
    const activeBefore = (await activeSessions.get()).values[0]?.value ?? 0;
    bus.publish(started("me", "s1"));
    bus.publish(started("other", "s2"));
    expect((await activeSessions.get()).values[0]?.value).toBe(activeBefore + 1);
    bus.publish(ended("me", "s1", EndReason.CUSTOMER, 82));
    bus.publish(ended("other", "s2", EndReason.CUSTOMER, 82));
    stop();
    expect(await count({ business_id: "biz-metrics", status: "started" })).toBe(1);
    expect(await count({ business_id: "biz-metrics", status: "completed", quality_tier: "high" })).toBe(1);
    expect((await activeSessions.get()).values[0]?.value).toBe(activeBefore);
  });

  it("names outcomes as the deployment guide does", () => {
    expect(endStatus(EndReason.MAX_TURNS)).toBe("completed");
    expect(endStatus(EndReason.MEDIA_LOST)).toBe("failed");
    expect(endStatus(EndReason.DISCONNECTED)).toBe("abandoned");
  });
});
