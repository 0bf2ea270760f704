// Session metrics are a bus subscriber that counts this node's sessions only.
import { create } from "@bufbuild/protobuf";
import { EndReason, LiveEnvelopeSchema, LiveEventSchema, StreamState } from "@parley/proto/live";
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

const failedStatus = (nodeId: string, sessionId: string, detail: string) =>
  create(LiveEnvelopeSchema, {
    sessionId,
    businessId: "biz-metrics",
    nodeId,
    seq: 2n,
    event: create(LiveEventSchema, {
      kind: { case: "status", value: { sessionId, state: StreamState.FAILED, detail } },
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

  it("counts a conversation whose speech recognition failed for good as failed, whatever reason ends it", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const stop = observeSessionMetrics(bus, "me");
    const failedBefore = await count({ business_id: "biz-metrics", status: "failed", quality_tier: "low" });
    const completedBefore = await count({ business_id: "biz-metrics", status: "completed", quality_tier: "low" });
    bus.publish(started("me", "s-asr"));
    // RecognitionStream gave up: FAILED; the app then ends the conversation as the customer's.
    bus.publish(failedStatus("me", "s-asr", "speech recognition unavailable"));
    bus.publish(ended("me", "s-asr", EndReason.CUSTOMER, 20));
    // Another session on the node, whose speech did not fail, still completes.
    bus.publish(started("me", "s-ok"));
    bus.publish(ended("me", "s-ok", EndReason.CUSTOMER, 20));
    stop();
    expect(await count({ business_id: "biz-metrics", status: "failed", quality_tier: "low" })).toBe(failedBefore + 1);
    expect(await count({ business_id: "biz-metrics", status: "completed", quality_tier: "low" })).toBe(
      completedBefore + 1,
    );
  });

  it("exports a business's failed and fraud_detected series at 0 from its first session, so its first one is an increase", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const stop = observeSessionMetrics(bus, "me");
    const fresh = (await feedbackSessionsTotal.get()).values.filter((v) => v.labels.business_id === "biz-fresh");
    expect(fresh).toEqual([]);
    bus.publish(create(LiveEnvelopeSchema, { ...started("me", "s-fresh"), businessId: "biz-fresh" }));
    stop();
    const series = (await feedbackSessionsTotal.get()).values.filter((v) => v.labels.business_id === "biz-fresh");
    const at = (status: string, quality_tier: string) =>
      series.find((v) => v.labels.status === status && v.labels.quality_tier === quality_tier)?.value;
    for (const tier of ["unknown", "low", "medium", "high"]) expect(at("failed", tier)).toBe(0);
    for (const tier of ["low", "medium", "high"]) expect(at("fraud_detected", tier)).toBe(0);
    expect(at("started", "unknown")).toBe(1);
  });

  it("exports fraud_detected at 0 for a business whose session started on another node: the reward may be decided here", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const stop = observeSessionMetrics(bus, "me");
    bus.publish(create(LiveEnvelopeSchema, { ...started("other", "s-elsewhere"), businessId: "biz-elsewhere" }));
    stop();
    const series = (await feedbackSessionsTotal.get()).values.filter((v) => v.labels.business_id === "biz-elsewhere");
    for (const tier of ["low", "medium", "high"])
      expect(series.find((v) => v.labels.status === "fraud_detected" && v.labels.quality_tier === tier)?.value).toBe(0);
    // Its start and failures are the other node's to count.
    expect(series.filter((v) => v.labels.status !== "fraud_detected")).toEqual([]);
  });

  it("names outcomes as the deployment guide does", () => {
    expect(endStatus(EndReason.MAX_TURNS)).toBe("completed");
    expect(endStatus(EndReason.MEDIA_LOST)).toBe("failed");
    expect(endStatus(EndReason.SPEECH_LOST)).toBe("failed");
    expect(endStatus(EndReason.DISCONNECTED)).toBe("abandoned");
  });
});
