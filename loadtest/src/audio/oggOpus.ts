// Reads the Opus packets of an Ogg/Opus file (RFC 7845) without re-encoding
// them: the load tester sends exactly the packets an Opus encoder made.
// Only what that needs: pages, lacing, the OpusHead header; one logical stream.

/** A file that is not Ogg/Opus, or a damaged one. */
export class OggOpusError extends Error {}

export interface OggOpus {
  channels: number;
  /** Samples (at 48 kHz) to drop at the start: the encoder's look-ahead. */
  preSkip: number;
  /** Audio packets, headers excluded. */
  packets: Buffer[];
}

export function readOggOpus(file: Buffer): OggOpus {
  const packets: Buffer[] = [];
  let partial: Buffer[] = [];
  let serial: number | undefined;
  let at = 0;
  while (at < file.length) {
    if (file.toString("latin1", at, at + 4) !== "OggS") throw new OggOpusError(`no Ogg page at byte ${at}`);
    if (at + 27 > file.length) throw new OggOpusError("truncated Ogg page header");
    const pageSerial = file.readUInt32LE(at + 14);
    serial ??= pageSerial;
    if (pageSerial !== serial) throw new OggOpusError("more than one logical stream: only one is read");
    const segments = file[at + 26]!;
    const lacing = file.subarray(at + 27, at + 27 + segments);
    let body = at + 27 + segments;
    for (const size of lacing) {
      if (body + size > file.length) throw new OggOpusError("truncated Ogg page body");
      partial.push(file.subarray(body, body + size));
      body += size;
      if (size < 255) {
        packets.push(Buffer.concat(partial));
        partial = [];
      }
    }
    at = body;
  }
  const [head, tags, ...audio] = packets;
  if (head?.toString("latin1", 0, 8) !== "OpusHead") throw new OggOpusError("not an Ogg/Opus file (no OpusHead)");
  if (tags?.toString("latin1", 0, 8) !== "OpusTags") throw new OggOpusError("Ogg/Opus file without OpusTags");
  return { channels: head[9]!, preSkip: head.readUInt16LE(10), packets: audio };
}

/** Duration of one Opus packet in 48 kHz samples, from its TOC byte (RFC 6716 §3.1). */
export function opusPacketSamples(packet: Uint8Array): number {
  if (packet.length === 0) return 0;
  const toc = packet[0]!;
  const config = toc >> 3;
  let frameSamples: number;
  if (config < 12)
    frameSamples = [480, 960, 1920, 2880][config & 3]!; // SILK 10/20/40/60 ms
  else if (config < 16)
    frameSamples = [480, 960][config & 1]!; // hybrid 10/20 ms
  else frameSamples = [120, 240, 480, 960][config & 3]!; // CELT 2.5/5/10/20 ms
  const code = toc & 3;
  const frames = code === 0 ? 1 : code === 3 ? (packet[1] ?? 0) & 0x3f : 2;
  return frameSamples * frames;
}
