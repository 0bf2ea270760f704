// How many of something one client (an IPv4 address, or an IPv6 /64) may
// hold at once: open WebSockets, sessions that have not ended. Each slot
// comes with its release, which is safe to call twice.
import { clientKey } from "./ClientIpResolver.ts";

/** Gives a slot back; safe to call twice. */
export type Release = () => void;

export class PerClientLimit {
  readonly max: number;
  readonly #counts = new Map<string, number>();

  constructor(max: number) {
    this.max = max;
  }

  /** A slot for `ip`, or undefined when it holds `max` already. */
  acquire(ip: string): Release | undefined {
    const key = clientKey(ip);
    const held = this.#counts.get(key) ?? 0;
    if (held >= this.max) return undefined;
    this.#counts.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#counts.get(key) ?? 1) - 1;
      if (left <= 0) this.#counts.delete(key);
      else this.#counts.set(key, left);
    };
  }

  held(ip: string): number {
    return this.#counts.get(clientKey(ip)) ?? 0;
  }
}
