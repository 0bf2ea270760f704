// A customer without a browser: a werift WebRTC peer (real ICE, DTLS, SRTP)
// signalled through Parley's WebSocket protocol. Tests and the benchmark use
// it to send prerecorded Opus packets at real-time pace.
import { execFileSync } from "node:child_process";
import { Encoder } from "@evan/opus";
import { TransportDirection } from "@parley/proto/ws";
import { MediaStreamTrack, RTCPeerConnection, RtpHeader, RtpPacket } from "werift";
import { createSession, type Endpoint, TestSocket } from "./harness.ts";

export const FRAME_MS = 20;

/**
 * Encodes a speech file (any format sox reads) into 20 ms Opus packets at 48 kHz.
 * The same file always gives the same packets: `-D` turns off the dither sox
 * otherwise adds when it resamples, which is random on every run. That noise
 * alone moved the voice-path tests' WER on the longest librivox recording
 * between 0.32 and 0.59 (nine runs; bar 0.586).
 */
export function opusPacketsFromFile(file: string, leadSilenceS = 0): Buffer[] {
  const output = ["-t", "raw", "-r", "48000", "-c", "1", "-b", "16", "-e", "signed", "-"];
  const raw = execFileSync("sox", ["-D", file, ...output, "pad", String(leadSilenceS), "0"], { maxBuffer: 1 << 28 });
  const samples = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
  const encoder = new Encoder({ channels: 1, sample_rate: 48_000, application: "voip" });
  const packets: Buffer[] = [];
  for (let at = 0; at + 960 <= samples.length; at += 960)
    packets.push(Buffer.from(encoder.encode(samples.subarray(at, at + 960))));
  return packets;
}

export class WeriftCustomer {
  readonly socket: TestSocket;
  readonly sessionId: string;
  readonly pc: RTCPeerConnection;
  readonly track = new MediaStreamTrack({ kind: "audio" });
  #seq = 0;
  #timestamp = 0;

  static async connect(server: Endpoint, storeCode = "werift"): Promise<WeriftCustomer> {
    const { token, sessionId } = await createSession(server, storeCode);
    const socket = await TestSocket.open(server);
    const joined = await socket.request({ case: "join", value: { token } });
    if (joined.case !== "joined") throw new Error(`join failed: ${JSON.stringify(joined.value)}`);
    const customer = new WeriftCustomer(socket, sessionId);
    await customer.#negotiate();
    return customer;
  }

  private constructor(socket: TestSocket, sessionId: string) {
    this.socket = socket;
    this.sessionId = sessionId;
    this.pc = new RTCPeerConnection({
      iceAdditionalHostAddresses: ["127.0.0.1"],
      iceInterfaceAddresses: { udp4: "127.0.0.1" },
      iceUseIpv6: false,
    } as ConstructorParameters<typeof RTCPeerConnection>[0]);
  }

  /** Sends one Opus payload as the next 20 ms RTP packet. */
  sendOpus(payload: Buffer, advanceFrames = 1): void {
    const header = new RtpHeader({
      sequenceNumber: this.#seq,
      timestamp: this.#timestamp,
      payloadType: 111,
      marker: false,
    });
    this.track.writeRtp(new RtpPacket(header, payload));
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + 960 * advanceFrames) >>> 0;
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

  async close(): Promise<void> {
    this.socket.close();
    await this.pc.close();
  }

  async #negotiate(): Promise<void> {
    const transceiver = this.pc.addTransceiver(this.track, { direction: "sendonly" });
    await this.pc.setLocalDescription(await this.pc.createOffer());
    const sdp = this.pc.localDescription!.sdp;
    const fingerprint = /a=fingerprint:(\S+) (\S+)/.exec(sdp)!;
    const payloadType = Number(/a=rtpmap:(\d+) opus\/48000\/2/i.exec(sdp)![1]);
    const mid = /a=mid:(\S+)/.exec(sdp)![1]!;

    const created = await this.socket.request({
      case: "createTransport",
      value: { direction: TransportDirection.SEND },
    });
    if (created.case !== "transportCreated") throw new Error(`createTransport: ${JSON.stringify(created.value)}`);
    const t = created.value;
    const connected = await this.socket.request({
      case: "connectTransport",
      value: {
        transportId: t.id,
        dtlsParameters: { role: "client", fingerprints: [{ algorithm: fingerprint[1]!, value: fingerprint[2]! }] },
      },
    });
    if (connected.case !== "transportConnected") throw new Error(`connect: ${JSON.stringify(connected.value)}`);

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
    if (produced.case !== "produced") throw new Error(`produce: ${JSON.stringify(produced.value)}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("WebRTC connection not established within 10 s")), 10_000);
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
