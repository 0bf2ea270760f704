// Which web pages may use the edge: the node's own origin, plus configured
// ones (ALLOWED_ORIGINS, FRONTEND_URL). Browsers send Origin on every
// WebSocket handshake and cross-origin request; a request without Origin
// does not come from a web page (curl, the load tester), so a page on
// another site cannot ride on it.

export class OriginPolicy {
  readonly #allowed: ReadonlySet<string>;

  constructor(allowedOrigins: readonly string[]) {
    this.#allowed = new Set(allowedOrigins.map((o) => o.toLowerCase()));
  }

  /** The page at `origin` is the node's own: same host (and port) as the request's Host. */
  static sameOrigin(origin: string, host: string): boolean {
    if (!host) return false;
    try {
      return new URL(origin).host === new URL(`http://${host}`).host;
    } catch {
      return false;
    }
  }

  /** A configured cross-origin page. */
  isListed(origin: string): boolean {
    return this.#allowed.has(origin.toLowerCase());
  }

  /** Whether a request with this Origin header ("" when absent) may proceed. */
  allows(origin: string, host: string): boolean {
    return origin === "" || OriginPolicy.sameOrigin(origin, host) || this.isListed(origin);
  }
}
