// A customer without a browser: a werift WebRTC peer (real ICE, DTLS, SRTP)
// signalled through Parley's WebSocket protocol. Tests and the benchmark use
// it to send prerecorded Opus packets at real-time pace.
import { execFileSync } from "node:child_process";
import { Encoder } from "@evan/opus";
import { ErrorCode, TransportDirection } from "@parley/proto/ws";
import {
  MediaStreamTrack,
  RTCPeerConnection,
  type RTCRtpSender,
  type RtcpPacket,
  RtcpRrPacket,
  RtcpSrPacket,
  RtpHeader,
  RtpPacket,
} from "werift";
import { createSession, type Endpoint, ProtocolClient, type SessionOptions } from "./ProtocolClient.ts";

export const FRAME_MS = 20;

/**
 * Encodes a speech file (any format sox reads) into 20 ms Opus packets at 48 kHz,
 * the way the customer app's browser encodes its microphone: 32 kbps (WebRTC's
 * default for mono), in-band FEC on, no wider than the wideband the app asks
 * for (maxplaybackrate 16000), so SILK-only packets, as the node decodes them
 * in production. (libopus's own default, 51 kbps hybrid full-band, costs the
 * node half as much again per packet to decode.)
 * The same file always gives the same packets: `-D` turns off the dither sox
 * otherwise adds when it resamples, which is random on every run. That noise
 * alone moved the voice-path tests' WER on the longest librivox recording
 * between 0.32 and 0.59 (nine runs; bar 0.586).
 *
 * With `dtx`, silence is encoded as the app's browser does it (Opus DTX):
 * the frames the encoder marks as "nothing to send" (1–2 bytes, which WebRTC
 * never sends) come back as empty buffers, and sendOpus() sends nothing for
 * them; in a pause one packet per 400 ms remains.
 */
export function opusPacketsFromFile(
  file: string,
  leadSilenceS = 0,
  options: { dtx?: boolean; trailSilenceS?: number } = {},
): Buffer[] {
  const output = ["-t", "raw", "-r", "48000", "-c", "1", "-b", "16", "-e", "signed", "-"];
  const pad = ["pad", String(leadSilenceS), String(options.trailSilenceS ?? 0)];
  const raw = execFileSync("sox", ["-D", file, ...output, ...pad], { maxBuffer: 1 << 28 });
  const samples = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
  const encoder = new Encoder({ channels: 1, sample_rate: 48_000, application: "voip" });
  encoder.bitrate = 32_000;
  encoder.inband_fec = true;
  encoder.max_bandwidth = "wideband";
  encoder.dtx = options.dtx ?? false;
  const packets: Buffer[] = [];
  for (let at = 0; at + 960 <= samples.length; at += 960) {
    const packet = encoder.encode(samples.subarray(at, at + 960));
    packets.push(packet.length <= 2 && options.dtx ? Buffer.alloc(0) : Buffer.from(packet));
  }
  return packets;
}

/** The stages of joining, in order; `connect` reports each as it completes. */
export type JoinStage = "created" | "joined" | "signalled" | "connected";

/** What the SFU said about our stream in an RTCP receiver report (its own view, RFC 3550 §6.4). */
export interface ReceiverReport {
  /** Highest sequence number received, extended with its wrap count. */
  highestSequence: number;
  /** Packets the SFU counts as lost since the start. */
  packetsLost: number;
  /** Lost share of the last report interval, 0..1. */
  fractionLost: number;
  /** Interarrival jitter in milliseconds (48 kHz RTP clock). */
  jitterMs: number;
}

export class WeriftCustomer {
  /** The socket of the moment (a new one after rejoin()). */
  socket: ProtocolClient;
  readonly sessionId: string;
  /** The current peer connection and track (both are replaced by reconnectMedia()). */
  pc: RTCPeerConnection;
  track = new MediaStreamTrack({ kind: "audio" });
  /** RTP packets handed to the peer connection. */
  packetsSent = 0;
  #sender: RTCRtpSender | undefined;
  #rejoinWith: { server: Endpoint; token: string; url?: string } | undefined;
  // Random starts, as browsers do (RFC 3550 §5.1). A stream starting at
  // sequence 0 makes mediasoup count a false wrap: 65536 "lost" packets in
  // its receiver reports.
  #seq = 1 + Math.floor(Math.random() * 0x7fff);
  #timestamp = Math.floor(Math.random() * 0x7fffffff);

  /**
   * The RTP sequence number (16 bits) the next packet gets. It runs on across
   * reconnectMedia(): against a receiver report's highest sequence number it
   * tells how many packets sent since were not covered by the report.
   */
  get nextSequence(): number {
    return this.#seq;
  }

  /**
   * Creates a session, joins it and brings WebRTC up; `onStage` hears each
   * stage as it completes (the load tester times them). `sessionId` is
   * reported as soon as the node has made one, so that a failure later can
   * still name it. `session`: what the app sends with the session (its receipt, say).
   * `claimedFingerprint`: the certificate fingerprint sent to the server in
   * place of the real one (tests: the server's DTLS then fails after the handshake).
   */
  static async connect(
    server: Endpoint,
    storeCode = "demo",
    onStage?: (stage: JoinStage, sessionId: string) => void,
    session: SessionOptions = {},
    claimedFingerprint?: string,
  ): Promise<WeriftCustomer> {
    const { token, sessionId, wsUrl } = await createSession(server, storeCode, session);
    onStage?.("created", sessionId);
    // A session the node placed on another node is joined there, as the app does.
    const socket = await ProtocolClient.open(server, wsUrl);
    try {
      const joined = await socket.request({ case: "join", value: { token } });
      if (joined.case !== "joined") throw new JoinFailed("join", joined.case === "error" ? joined.value : undefined);
      onStage?.("joined", sessionId);
      const customer = new WeriftCustomer(socket, sessionId);
      customer.#rejoinWith = { server, token, ...(wsUrl ? { url: wsUrl } : {}) };
      try {
        await customer.#negotiate(() => onStage?.("signalled", sessionId), claimedFingerprint);
      } catch (error) {
        await customer.pc.close();
        throw error;
      }
      onStage?.("connected", sessionId);
      return customer;
    } catch (error) {
      socket.close();
      throw error;
    }
  }

  private constructor(socket: ProtocolClient, sessionId: string) {
    this.socket = socket;
    this.sessionId = sessionId;
    this.pc = WeriftCustomer.#peerConnection();
  }

  static #peerConnection(): RTCPeerConnection {
    return new RTCPeerConnection({
      // No STUN: the SFU is ICE-lite with host candidates. (werift still falls
      // back to a public STUN server it cannot reach here and waits 5 s for
      // it while gathering: the load tester's "signalled" stage shows it.)
      iceServers: [],
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
      iceUseIpv6: false,
    } as ConstructorParameters<typeof RTCPeerConnection>[0]);
  }

  /**
   * The node moved the session's media to another worker (a MediaReset
   * event): set the send transport up again on the same socket, as the
   * customer app does. RTP continues on the new transport's stream.
   */
  async reconnectMedia(): Promise<void> {
    const old = this.pc;
    this.pc = WeriftCustomer.#peerConnection();
    this.track = new MediaStreamTrack({ kind: "audio" });
    await old.close().catch(() => {});
    await this.#negotiate(() => {});
  }

  /** Listens to the SFU's RTCP receiver reports about our stream. Returns an unsubscribe. */
  onReceiverReport(listener: (report: ReceiverReport) => void): () => void {
    const sender = this.#sender;
    if (!sender) return () => {};
    const { unSubscribe } = sender.onRtcp.subscribe((packet: RtcpPacket) => {
      if (!(packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket)) return;
      for (const r of packet.reports) {
        if (r.ssrc !== sender.ssrc) continue;
        listener({
          highestSequence: r.highestSequence,
          packetsLost: r.packetsLost,
          fractionLost: r.fractionLost / 256,
          jitterMs: r.jitter / 48,
        });
      }
    });
    return unSubscribe;
  }

  /** Round-trip time in ms that the peer measured from SR/RR pairs, once it has one. */
  async roundTripMs(): Promise<number | undefined> {
    const stats = (await this.#sender?.getStats()) ?? [];
    for (const s of stats) {
      const rtt = s.type === "remote-inbound-rtp" ? (s as { roundTripTime?: unknown }).roundTripTime : undefined;
      if (typeof rtt === "number") return rtt * 1000;
    }
    return undefined;
  }

  /**
   * Sends one Opus payload as the next RTP packet; `advanceFrames` 20 ms
   * frames of RTP time. An empty payload (a DTX frame) sends nothing: only
   * RTP time moves on.
   */
  sendOpus(payload: Buffer, advanceFrames = 1): void {
    if (payload.length === 0) {
      this.#timestamp = (this.#timestamp + Math.round(960 * advanceFrames)) >>> 0;
      return;
    }
    const header = new RtpHeader({
      sequenceNumber: this.#seq,
      timestamp: this.#timestamp,
      payloadType: 111,
      marker: false,
    });
    this.track.writeRtp(new RtpPacket(header, payload));
    this.packetsSent++;
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + Math.round(960 * advanceFrames)) >>> 0;
  }

  /**
   * A packet lost on the way: its sequence number and `advanceFrames` of RTP
   * time pass, nothing is sent (for tests of the receiver's concealment).
   */
  loseOpus(advanceFrames = 1): void {
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + Math.round(960 * advanceFrames)) >>> 0;
  }

  /** Plays packets at real-time pace; `onSent(index, sentAt)` for latency bookkeeping. */
  async play(packets: Buffer[], onSent?: (index: number, sentAtMs: number) => void): Promise<void> {
    const start = performance.now();
    for (let i = 0; i < packets.length; i++) {
      const due = start + i * FRAME_MS;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      onSent?.(i, performance.now());
      this.sendOpus(packets[i]!);
    }
  }

  /**
   * The socket dropped (the node restarted): join the session again with its
   * token on a new socket (at `url`, default the node it joined first), and
   * set the media up again, as the customer app does.
   */
  async rejoin(url = this.#rejoinWith!.url): Promise<void> {
    const { server, token } = this.#rejoinWith!;
    this.socket.close();
    const socket = await ProtocolClient.open(server, url);
    const joined = await socket.request({ case: "join", value: { token } });
    if (joined.case !== "joined") {
      socket.close();
      throw new JoinFailed("join", joined.case === "error" ? joined.value : undefined);
    }
    this.socket = socket;
    await this.reconnectMedia();
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.pc.close();
  }

  async #negotiate(onSignalled: () => void, claimedFingerprint?: string): Promise<void> {
    const transceiver = this.pc.addTransceiver(this.track, { direction: "sendonly" });
    this.#sender = transceiver.sender;
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const sdp = this.pc.localDescription!.sdp;
    const fingerprint = /a=fingerprint:(\S+) (\S+)/.exec(sdp)!;
    const payloadType = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(sdp)![1]);
    const mid = /a=mid:(\S+)/.exec(sdp)![1]!;

    const created = await this.socket.request({
      case: "createTransport",
      value: { direction: TransportDirection.SEND },
    });
    if (created.case !== "transportCreated")
      throw new JoinFailed("createTransport", created.case === "error" ? created.value : undefined);
    const t = created.value;
    const connected = await this.socket.request({
      case: "connectTransport",
      value: {
        transportId: t.id,
        dtlsParameters: {
          role: "client",
          fingerprints: [{ algorithm: fingerprint[1]!, value: claimedFingerprint ?? fingerprint[2]! }],
        },
      },
    });
    if (connected.case !== "transportConnected")
      throw new JoinFailed("connectTransport", connected.case === "error" ? connected.value : undefined);

    const serverFingerprint = t.dtlsParameters!.fingerprints.find((f) => f.algorithm === "sha-256")!;
    const answer = [
      "v=0",
      "o=- 1 1 IN IP4 127.0.0.1",
      "s=-",
      "t=0 0",
      "a=ice-lite",
      `a=group:BUNDLE ${mid}`,
      `m=audio 9 UDP/TLS/RTP/SAVPF ${payloadType}`,
      "c=IN IP4 127.0.0.1",
      `a=ice-ufrag:${t.iceParameters!.usernameFragment}`,
      `a=ice-pwd:${t.iceParameters!.password}`,
      `a=fingerprint:sha-256 ${serverFingerprint.value}`,
      "a=setup:passive",
      `a=mid:${mid}`,
      "a=recvonly",
      "a=rtcp-mux",
      `a=rtpmap:${payloadType} opus/48000/2`,
      ...t.iceCandidates.map(
        (c) => `a=candidate:${c.foundation} 1 ${c.protocol} ${c.priority} ${c.address} ${c.port} typ ${c.type}`,
      ),
      "a=end-of-candidates",
      "",
    ].join("\r\n");
    await this.pc.setRemoteDescription({ type: "answer", sdp: answer });

    const produced = await this.socket.request({
      case: "produce",
      value: {
        transportId: t.id,
        kind: "audio",
        rtpParameters: {
          mid,
          codecs: [{ mimeType: "audio/opus", payloadType, clockRate: 48_000, channels: 2 }],
          encodings: [{ ssrc: transceiver.sender.ssrc }],
          rtcp: { cname: "werift" },
        },
      },
    });
    if (produced.case !== "produced")
      throw new JoinFailed("produce", produced.case === "error" ? produced.value : undefined);
    onSignalled();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new IceTimeout()), 10_000);
      const check = (state: string) => {
        if (state === "connected") {
          clearTimeout(timer);
          resolve();
        }
      };
      check(this.pc.connectionState);
      this.pc.connectionStateChange.subscribe(check);
    });
  }
}

/** A signalling request answered with an error (or with something unexpected). */
export class JoinFailed extends Error {
  readonly request: string;
  /** The node's ErrorCode name, e.g. "UNAVAILABLE"; "UNEXPECTED" for a wrong answer. */
  readonly code: string;
  constructor(request: string, error: { code: ErrorCode; message: string } | undefined) {
    const code = error ? (ErrorCode[error.code] ?? String(error.code)) : "UNEXPECTED";
    super(`${request} failed: ${code}${error ? ` ${error.message}` : ""}`);
    this.request = request;
    this.code = code;
  }
}

/** ICE and DTLS did not connect in time. */
export class IceTimeout extends Error {
  constructor() {
    super("WebRTC connection not established within 10 s");
  }
}
