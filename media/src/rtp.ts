// Minimal RTP header reading (RFC 3550): just what the audio path needs.
// Works on a view of the packet; allocates nothing.

export interface RtpView {
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  marker: boolean;
  payloadType: number;
  payloadStart: number;
  payloadEnd: number;
}

/** Reads the RTP header of `packet` into `out`. Returns false if it is not valid RTP. */
export function readRtpHeader(packet: Uint8Array, out: RtpView): boolean {
  const length = packet.byteLength;
  if (length < 12 || packet[0]! >> 6 !== 2) return false;
  const first = packet[0]!;
  const csrcCount = first & 0x0f;
  let start = 12 + csrcCount * 4;
  if (first & 0x10) {
    if (start + 4 > length) return false;
    const words = (packet[start + 2]! << 8) | packet[start + 3]!;
    start += 4 + words * 4;
  }
  let end = length;
  if (first & 0x20) end -= packet[length - 1]!;
  if (start > end) return false;
  out.marker = (packet[1]! & 0x80) !== 0;
  out.payloadType = packet[1]! & 0x7f;
  out.sequenceNumber = (packet[2]! << 8) | packet[3]!;
  out.timestamp = ((packet[4]! << 24) | (packet[5]! << 16) | (packet[6]! << 8) | packet[7]!) >>> 0;
  out.ssrc = ((packet[8]! << 24) | (packet[9]! << 16) | (packet[10]! << 8) | packet[11]!) >>> 0;
  out.payloadStart = start;
  out.payloadEnd = end;
  return true;
}

export const newRtpView = (): RtpView => ({
  sequenceNumber: 0,
  timestamp: 0,
  ssrc: 0,
  marker: false,
  payloadType: 0,
  payloadStart: 0,
  payloadEnd: 0,
});
