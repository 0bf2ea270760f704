// Which client a request comes from. The peer's address, unless the peer is
// a configured trusted proxy: then X-Forwarded-For is read from the right,
// skipping our own proxies, and the first address they did not add is the
// client's. A client cannot pick its address by sending X-Forwarded-For to
// a node that does not trust its peer.
import net from "node:net";

/**
 * An address in canonical text ("203.0.113.7", "2001:db8::1"); IPv4-mapped IPv6 as IPv4; undefined
 * for anything else. Never throws: it reads headers clients write, inside uWS's callbacks.
 */
export function canonicalIp(raw: string): string | undefined {
  let text = raw.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  const family = net.isIP(text);
  if (family === 4) return text;
  if (family !== 6) return undefined;
  // A zone ("fe80::1%eth0", which net.isIP accepts and the URL parser does not) names an interface
  // of the machine that wrote it, nothing of the client's: the address is the part before it.
  const zone = text.indexOf("%");
  if (zone >= 0) return canonicalIp(text.slice(0, zone));
  let host: string;
  try {
    // The URL parser compresses and lower-cases IPv6 addresses.
    host = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (mapped) {
    const hi = Number.parseInt(mapped[1]!, 16);
    const lo = Number.parseInt(mapped[2]!, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

/**
 * The key that limits count a client under: its IPv4 address, or the /64
 * of an IPv6 address (one subscriber usually holds a whole /64). One
 * implementation with records' login and data-code limits.
 */
export { addressKey as clientKey } from "@parley/records";

export class ClientIpResolver {
  readonly #trusted = new net.BlockList();
  readonly #any: boolean;

  /** `trustedProxies`: addresses ("10.0.0.5") and CIDR blocks ("10.0.0.0/8", "fd00::/8"). */
  constructor(trustedProxies: readonly string[]) {
    for (const entry of trustedProxies) {
      const [address = "", bits] = entry.split("/");
      const ip = canonicalIp(address);
      if (!ip) throw new Error(`TRUSTED_PROXIES: not an address or CIDR block: "${entry}"`);
      const family = ip.includes(":") ? "ipv6" : "ipv4";
      if (bits === undefined) this.#trusted.addAddress(ip, family);
      else {
        const prefix = Number(bits);
        if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === "ipv4" ? 32 : 128))
          throw new Error(`TRUSTED_PROXIES: bad prefix length in "${entry}"`);
        this.#trusted.addSubnet(ip, prefix, family);
      }
    }
    this.#any = trustedProxies.length > 0;
  }

  isTrusted(ip: string): boolean {
    return this.#any && this.#trusted.check(ip, ip.includes(":") ? "ipv6" : "ipv4");
  }

  /**
   * The client's address, from the peer's (uWS's text form) and the
   * request's X-Forwarded-For header ("" when absent).
   */
  resolve(peer: string, forwardedFor: string): string {
    let client = canonicalIp(peer) ?? peer;
    if (!forwardedFor || !this.isTrusted(client)) return client;
    const hops = forwardedFor.split(",");
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = canonicalIp(hops[i]!);
      if (!hop) break; // garbage: the last good hop is as far as we can trust
      client = hop;
      if (!this.isTrusted(hop)) break;
    }
    return client;
  }
}
