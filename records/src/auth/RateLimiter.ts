// Fixed-window counters per key (login: per e-mail, and per address in a looser one), in memory.
// With skipSuccessful (the guide's RATE_LIMIT_SKIP_SUCCESSFUL_REQUESTS), only
// failures count, so a user who types the right password is never locked out
// by their own successful logins.
//
// Unauthenticated callers choose the keys, so memory is bounded: asking about a
// key never stores it, only a counted failure does, and beyond maxKeys the
// oldest windows are forgotten (a Map iterates in insertion order and a new
// window is re-inserted, so the first entry is the oldest: O(1) per eviction).

export interface RateLimitOptions {
  windowMs: number;
  max: number;
  skipSuccessful: boolean;
  /** Most keys tracked at once (default 100 000); beyond it the oldest windows are dropped. */
  maxKeys?: number;
  now?: () => number;
}

export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(options: RateLimitOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = Math.max(1, options.maxKeys ?? 100_000);
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#windows.size;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. Stores nothing. */
  retryAfterMs(key: string): number {
    const w = this.#windows.get(key);
    if (!w) return 0;
    const left = w.start + this.#options.windowMs - this.#now();
    if (left <= 0) {
      this.#windows.delete(key);
      return 0;
    }
    return w.count >= this.#options.max ? left : 0;
  }

  /**
   * Counts an attempt when it starts, before its outcome is known: attempts
   * made at once (each waiting on the database and on scrypt) see each other,
   * so a burst cannot pass the check all together. `settle` gives a
   * successful attempt back (with skipSuccessful), and always one whose check
   * could not be made ("unknown": the database was away): no one is locked
   * out for an outage of ours.
   */
  begin(key: string): (outcome: boolean | "unknown") => void {
    this.record(key, false);
    const window = this.#windows.get(key);
    return (outcome) => {
      if (outcome === false || (outcome === true && !this.#options.skipSuccessful)) return;
      // Only from the window it was counted in: a new window never counted it.
      if (window && this.#windows.get(key) === window && window.count > 0) window.count--;
    };
  }

  /** Counts one attempt's outcome. */
  record(key: string, succeeded: boolean): void {
    if (succeeded && this.#options.skipSuccessful) return;
    const now = this.#now();
    const w = this.#windows.get(key);
    if (w && now - w.start < this.#options.windowMs) {
      w.count++;
      return;
    }
    // A new window goes to the end, so the map stays ordered by window start.
    this.#windows.delete(key);
    this.#windows.set(key, { start: now, count: 1 });
    while (this.#windows.size > this.#maxKeys) this.#windows.delete(this.#evictable(now));
  }

  /**
   * The key to forget: among the oldest few, the first that blocks nothing
   * (a flood of fresh keys must not lift a lockout); else the oldest.
   */
  #evictable(now: number): string {
    let scanned = 0;
    let oldest: string | undefined;
    for (const [key, w] of this.#windows) {
      oldest ??= key;
      if (w.count < this.#options.max || now - w.start >= this.#options.windowMs) return key;
      if (++scanned >= EVICTION_SCAN) break;
    }
    return oldest!;
  }
}

/**
 * A client address's allowance, in multiples of one key's (LOGIN_RATE_LIMIT_MAX): per address, failed
 * logins (against one e-mail: the plain allowance) and data-code guesses (against one session: the
 * plain allowance). Looser per address so that the people behind one address (a shop's NAT, a store's
 * Wi-Fi) do not lock each other out; still a bound on one client trying many accounts or sessions.
 */
export const ADDRESS_LIMIT_FACTOR = 10;

/** How many of the oldest windows eviction looks through for one that blocks nothing. */
const EVICTION_SCAN = 64;

/**
 * The limiter's key for a client address: an IPv6 address by its /64 (one
 * subscriber's network hands out 2^64 of them, each otherwise a fresh
 * allowance); IPv4, and IPv4 mapped into IPv6, as they are.
 */
export function addressKey(ip: string): string {
  if (!ip.includes(":") || /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip)) return ip;
  const [head = "", tail] = ip.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (g.replace(/^0+/, "") || "0").toLowerCase())
    .join(":")}::/64`;
}
