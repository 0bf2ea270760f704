// The wall's durable parts against a real Postgres (the test run's cluster),
// wired as ParleyServer wires them but without media: a live-event bus whose
// envelopes the records writer keeps, records publishing its reward
// decisions back on the bus, and conversations published like a Session's.
import { create } from "@bufbuild/protobuf";
import { LiveEnvelopeSchema } from "@parley/proto/live";
import { Records } from "@parley/records";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import { inject } from "vitest";
import { liveTopic } from "../../src/live/LiveBus.ts";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { FakeConversation } from "./events.ts";

export const logger = pino({ level: process.env.LOG_LEVEL ?? "silent" });
const SECRET = "test-secret-test-secret-test-secret-42";

export interface RecordsRig {
  bus: LocalLiveBus;
  records: Records;
  /** The demo business (seeded) and its store "demo". */
  demoBusiness: string;
  /** Another business with one store; its id. */
  addBusiness(name: string, storeCode: string): Promise<string>;
  /** A conversation created as POST /api/sessions creates it (consent given), publishing on the bus. */
  begin(storeCode: string, businessId: string, options?: { receipt?: string }): Promise<FakeConversation>;
  close(): Promise<void>;
}

let devices = 0;

export async function recordsRig(databaseUrl?: string): Promise<RecordsRig> {
  const bus = new LocalLiveBus(logger);
  const conversations = new Map<string, FakeConversation>();
  const records = await Records.create({
    databaseUrl: databaseUrl ?? (await createDatabaseAt(inject("parleyPostgresUrl"))),
    dataDir: "/nonexistent",
    nodeId: "test-node",
    logger,
    authSecret: SECRET,
    seedDemo: true,
    sweepIntervalMs: 0,
    retention: { intervalMs: 0 },
    writer: { flushIntervalMs: 5 },
    // As the node does: through the session while it knows it (its sequence continues), else a fresh envelope.
    publish: (target, event) => {
      const c = conversations.get(target.sessionId);
      if (c) c.publish(event);
      else
        bus.publish(
          create(LiveEnvelopeSchema, {
            ...target,
            seq: 0n,
            nodeId: "test-node",
            publishedAtMs: BigInt(Date.now()),
            event,
          }),
        );
    },
  });
  const unsubscribe = bus.subscribe(liveTopic.admin, ({ envelope }) => records.write(envelope));
  const [demo] = await records.sql<{ id: string }[]>`select business_id as id from stores where code = 'demo'`;
  return {
    bus,
    records,
    demoBusiness: demo!.id,
    async addBusiness(name, storeCode) {
      const [business] = await records.sql<{ id: string }[]>`
        insert into businesses (id, name) values (gen_random_uuid(), ${name}) returning id`;
      await records.sql`
        insert into stores (id, business_id, code, name, language, reward_policy)
        select gen_random_uuid(), ${business!.id}, ${storeCode}, ${storeCode}, 'en-US', reward_policy
        from stores where code = 'demo'`;
      return business!.id;
    },
    async begin(storeCode, businessId, options = {}) {
      const c = new FakeConversation(bus, storeCode, businessId);
      conversations.set(c.sessionId, c);
      await records.beginSession({
        sessionId: c.sessionId,
        storeCode,
        consent: { given: true, version: "test" },
        deviceId: `device-${++devices}`,
        ip: `10.1.${devices % 250}.${(devices * 13) % 250}`,
        ...(options.receipt ? { receipt: options.receipt } : {}),
      });
      return c;
    },
    async close() {
      unsubscribe();
      await records.close();
      bus.close();
    },
  };
}
