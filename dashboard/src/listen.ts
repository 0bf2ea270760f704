// Listening in: the admin's browser consumes the customer's microphone
// through the SFU (a receive transport on the session's router).
import {
  dtlsFromProto,
  dtlsToProto,
  iceCandidateFromProto,
  iceParametersFromProto,
  rtpCapabilitiesFromProto,
  rtpCapabilitiesToProto,
  rtpParametersFromProto,
} from "@parley/proto/mediasoup";
import { Device } from "mediasoup-client";
import type { WallConnection } from "./connection.ts";

export interface Listening {
  track: MediaStreamTrack;
  /** Packets received so far (the page shows it: proof that audio arrives). */
  packetsReceived(): Promise<number>;
  stop(): void;
}

export async function listenIn(connection: WallConnection, sessionId: string): Promise<Listening> {
  const caps = await connection.request(
    { case: "getListenCapabilities", value: { sessionId } },
    "routerRtpCapabilities",
  );
  const device = new Device();
  await device.load({ routerRtpCapabilities: rtpCapabilitiesFromProto(caps) });
  const created = await connection.request(
    { case: "listenIn", value: { sessionId, rtpCapabilities: rtpCapabilitiesToProto(device.rtpCapabilities) } },
    "listenerCreated",
  );
  // From here the node holds a listener for this page: a failure must let go of it and of the transport.
  let transport: ReturnType<Device["createRecvTransport"]> | undefined;
  try {
    const t = created.transport!;
    const recv = device.createRecvTransport({
      id: t.id,
      iceParameters: iceParametersFromProto(t.iceParameters),
      iceCandidates: t.iceCandidates.map(iceCandidateFromProto),
      dtlsParameters: dtlsFromProto(t.dtlsParameters),
    });
    transport = recv;
    recv.on("connect", ({ dtlsParameters }, callback, errback) => {
      connection
        .request(
          { case: "connectListener", value: { transportId: recv.id, dtlsParameters: dtlsToProto(dtlsParameters) } },
          "done",
        )
        .then(() => callback(), errback);
    });
    const c = created.consumer!;
    const consumer = await recv.consume({
      id: c.consumerId,
      producerId: c.producerId,
      kind: "audio",
      rtpParameters: rtpParametersFromProto(c.rtpParameters),
    });
    await connection.request({ case: "resumeListener", value: { consumerId: consumer.id } }, "done");
    return {
      track: consumer.track,
      packetsReceived: async () => {
        let packets = 0;
        (await consumer.getStats()).forEach((s: { type: string; packetsReceived?: number }) => {
          if (s.type === "inbound-rtp") packets += s.packetsReceived ?? 0;
        });
        return packets;
      },
      stop: () => {
        consumer.close();
        recv.close();
        stopOnNode(connection);
      },
    };
  } catch (error) {
    transport?.close(); // closes its consumer too
    stopOnNode(connection);
    throw error;
  }
}

/** Tells the node to drop this page's listener (best effort: a closed socket dropped it already). */
const stopOnNode = (connection: WallConnection) =>
  void connection.request({ case: "stopListening", value: {} }, "done").catch(() => {});
