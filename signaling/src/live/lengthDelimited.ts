// One length-delimited protobuf field written around bytes that are already
// encoded: a tag byte, the length as a varint, the bytes. A message field is
// exactly this on the wire, so an event encoded once can be put into several
// outer messages without encoding it again.

/** The tag byte of length-delimited field `field` (1–15: one byte). */
export const lengthDelimitedTag = (field: number): number => (field << 3) | 2;

/** `prefix` (an outer message's other fields, already encoded), then field `tag` holding `bytes`. */
export function lengthDelimited(tag: number, bytes: Uint8Array, prefix?: Uint8Array): Uint8Array {
  const head = prefix?.byteLength ?? 0;
  let length = bytes.byteLength;
  let varintBytes = 1;
  for (let v = length; v >= 0x80; v >>>= 7) varintBytes++;
  const out = new Uint8Array(head + 1 + varintBytes + length);
  if (prefix) out.set(prefix, 0);
  let at = head;
  out[at++] = tag;
  while (length >= 0x80) {
    out[at++] = (length & 0x7f) | 0x80;
    length >>>= 7;
  }
  out[at++] = length;
  out.set(bytes, at);
  return out;
}
