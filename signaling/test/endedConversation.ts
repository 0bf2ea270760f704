// A conversation written straight into a node's records, as if it had just
// ended at the demo store: for tests of what the customer sees afterwards.
import { randomUUID } from "node:crypto";
import type { ParleyServer } from "../src/ParleyServer.ts";

/** An ended conversation at the demo store (consent given, nothing said, no reward); its id and data code. */
export async function endedConversation(server: ParleyServer): Promise<{ sessionId: string; dataCode: string }> {
  const sessionId = randomUUID();
  const { dataCode } = await server.records.beginSession({
    sessionId,
    storeCode: "demo",
    consent: { given: true, version: "test" },
  });
  await server.records.writer.drain();
  await server.records.sql`
    update sessions set status = 'ended', started_at = now() - interval '1 minute', ended_at = now(),
      end_reason = 'CUSTOMER' where id = ${sessionId}`;
  return { sessionId, dataCode };
}
