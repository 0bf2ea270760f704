// Microphone → mediasoup send transport → the Parley media plane.

import {
  dtlsFromProto,
  dtlsToProto,
  iceCandidateFromProto,
  iceParametersFromProto,
  rtpCapabilitiesFromProto,
  rtpCapabilitiesToProto,
  rtpParametersFromProto,
  rtpParametersToProto,
} from "@parley/proto/mediasoup";
import { TransportDirection } from "@parley/proto/ws";
import { Device } from "mediasoup-client";
import type { Transport } from "mediasoup-client/types";
import type { Connection } from "./connection.ts";
import { restartIceWhenLost } from "./iceRestart.ts";

export class MicrophoneDeniedError extends Error {}
export class NoMicrophoneError extends Error {}

/**
 * Browsers process a microphone (echo cancellation, noise suppression,
 * automatic gain) by default. `raw` turns all of it off; the default keeps
 * echo cancellation only, since the AI's voice plays through the speaker.
 */
export async function openMicrophone(raw: boolean): Promise<MediaStreamTrack> {
  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: !raw, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    });
    return stream.getAudioTracks()[0]!;
  } catch (error) {
    const name = (error as DOMException).name;
    if (name === "NotAllowedError" || name === "SecurityError") throw new MicrophoneDeniedError("microphone denied");
    if (name === "NotFoundError" || name === "OverconstrainedError") throw new NoMicrophoneError("no microphone");
    throw error;
  }
}

export interface VoiceLink {
  /** The AI's voice, to play in an <audio> element. */
  aiVoice: MediaStreamTrack;
  /** Sends another microphone track on the same producer (the old one ended). */
  replaceMicrophone(track: MediaStreamTrack): Promise<void>;
  stop(): void;
}

/**
 * Microphone up, the AI's voice down: one Device, a send and a receive transport. A transport
 * that loses its network is restarted (ICE); `onMediaLost` is told when that does not bring it back.
 */
export async function connectVoice(
  connection: Connection,
  microphone: MediaStreamTrack,
  onMediaLost: (error: unknown) => void,
): Promise<VoiceLink> {
  const caps = await connection.request({ case: "getRouterRtpCapabilities", value: {} }, "routerRtpCapabilities");
  const device = new Device();
  await device.load({ routerRtpCapabilities: rtpCapabilitiesFromProto(caps) });
  if (!device.canProduce("audio")) throw new Error("this browser cannot send audio to the server");
  const link = { connection, device, onMediaLost };
  const { replaceTrack, stop: stopSending } = await startSending(link, microphone);
  let received: Awaited<ReturnType<typeof receiveAiVoice>>;
  try {
    received = await receiveAiVoice(link);
  } catch (error) {
    stopSending(); // its peer connection would outlive the failed attempt
    throw error;
  }
  const { track, stop: stopReceiving } = received;
  return {
    aiVoice: track,
    replaceMicrophone: replaceTrack,
    stop: () => {
      stopSending();
      stopReceiving();
    },
  };
}

/** What each transport of one voice link is set up with. */
interface Link {
  connection: Connection;
  device: Device;
  onMediaLost: (error: unknown) => void;
}

/**
 * A server transport in one direction, mirrored in the Device; DTLS connects on first use, and
 * ICE restarts when the browser's network changes.
 */
async function openTransport({ connection, device, onMediaLost }: Link, direction: TransportDirection) {
  const created = await connection.request({ case: "createTransport", value: { direction } }, "transportCreated");
  const options = {
    id: created.id,
    iceParameters: iceParametersFromProto(created.iceParameters),
    iceCandidates: created.iceCandidates.map(iceCandidateFromProto),
    dtlsParameters: dtlsFromProto(created.dtlsParameters),
  };
  const transport =
    direction === TransportDirection.SEND ? device.createSendTransport(options) : device.createRecvTransport(options);
  transport.on("connect", ({ dtlsParameters }, callback, errback) => {
    connection
      .request(
        {
          case: "connectTransport",
          value: { transportId: transport.id, dtlsParameters: dtlsToProto(dtlsParameters) },
        },
        "transportConnected",
      )
      .then(() => callback(), errback);
  });
  restartIceWhenLost(transport, {
    newIceParameters: async (transportId) => {
      const restarted = await connection.request({ case: "restartIce", value: { transportId } }, "iceRestarted");
      return iceParametersFromProto(restarted.iceParameters);
    },
    onGiveUp: onMediaLost,
  });
  return transport;
}

/** Runs `setUp` on a fresh transport, closing the transport (its peer connection) if it fails. */
async function onTransport<T>(transport: Transport, setUp: () => Promise<T>): Promise<T> {
  try {
    return await setUp();
  } catch (error) {
    transport.close();
    throw error;
  }
}

async function receiveAiVoice(link: Link) {
  const { connection, device } = link;
  const transport = await openTransport(link, TransportDirection.RECV);
  return onTransport(transport, async () => {
    const consumed = await connection.request(
      {
        case: "consumeAiVoice",
        value: { transportId: transport.id, rtpCapabilities: rtpCapabilitiesToProto(device.rtpCapabilities) },
      },
      "consumed",
    );
    const consumer = await transport.consume({
      id: consumed.consumerId,
      producerId: consumed.producerId,
      kind: "audio",
      rtpParameters: rtpParametersFromProto(consumed.rtpParameters),
    });
    await connection.request({ case: "resumeConsumer", value: { consumerId: consumer.id } }, "consumerResumed");
    return {
      track: consumer.track,
      stop: () => {
        consumer.close();
        transport.close();
      },
    };
  });
}

async function startSending(link: Link, track: MediaStreamTrack) {
  const { connection } = link;
  const transport = await openTransport(link, TransportDirection.SEND);
  return onTransport(transport, async () => {
    transport.on("produce", ({ kind, rtpParameters }, callback, errback) => {
      connection
        .request(
          {
            case: "produce",
            value: { transportId: transport.id, kind, rtpParameters: rtpParametersToProto(rtpParameters) },
          },
          "produced",
        )
        .then((p) => callback({ id: p.producerId }), errback);
    });
    const producer = await transport.produce({
      track,
      // Wideband (16 kHz) is all the speech recogniser hears: asking the browser
      // for no more (maxplaybackrate) makes it send SILK-only Opus, about a third
      // cheaper for the node to decode than the hybrid full-band default, in fewer bits.
      // DTX: in a pause the browser sends one packet per 400 ms instead of 50;
      // the node keeps the audio timeline (the clock of pauses and turn-taking)
      // running in real time meanwhile, and decodes almost nothing.
      codecOptions: { opusStereo: false, opusDtx: true, opusFec: true, opusMaxPlaybackRate: 16_000 },
      // The microphone outlives a transport (the media may move to another
      // worker mid-conversation); the app stops it when the customer hangs up.
      stopTracks: false,
    });
    return {
      replaceTrack: (next: MediaStreamTrack) => producer.replaceTrack({ track: next }),
      stop: () => {
        producer.close();
        transport.close();
      },
    };
  });
}
