// Headers every response carries. The customer app is ours alone: scripts,
// styles, images and connections from its own origin only (the WebSocket
// included: CSP 3 lets 'self' match ws:/wss: of the same host), nothing may
// frame it, and it may use the microphone. WebRTC media needs no CSP source:
// ICE and DTLS are not fetches, and the AI's voice plays from a MediaStream.
// `uWebSockets: 20` and `Date` are written by uWS itself (a compile-time
// option of the binary we cannot rebuild here); we add no Server or
// X-Powered-By header.

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Two years, as browsers' preload lists ask; sent only over TLS (browsers ignore it on http). */
const HSTS = "max-age=63072000; includeSubDomains";

export function securityHeaders(options: { tls: boolean }): readonly (readonly [string, string])[] {
  return [
    ["content-security-policy", CONTENT_SECURITY_POLICY],
    ["x-content-type-options", "nosniff"],
    ["x-frame-options", "DENY"],
    ["referrer-policy", "no-referrer"],
    ["permissions-policy", "microphone=(self), camera=(), geolocation=(), payment=()"],
    ["cross-origin-opener-policy", "same-origin"],
    ["cross-origin-resource-policy", "same-origin"],
    ...(options.tls ? [["strict-transport-security", HSTS] as const] : []),
  ];
}
