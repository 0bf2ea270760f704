// How a gRPC call over HTTP/2 ends, as the gRPC protocol spells it out
// (PROTOCOL-HTTP2.md and http-grpc-status-mapping.md): a grpc-status trailer,
// else an HTTP status or an RST_STREAM code mapped to a gRPC status; the same
// codes and messages grpc-js gives, so callers cannot tell the clients apart.
import { constants } from "node:http2";
import { status as Status } from "@grpc/grpc-js";

export { Status };

/** A call that ended without OK; shaped like grpc-js's ServiceError (code, details). */
export class GrpcCallError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, details: string) {
    super(`${code} ${Status[code] ?? "UNKNOWN"}: ${details}`);
    this.name = "GrpcCallError";
    this.code = code;
    this.details = details;
  }
}

export interface CallStatus {
  code: number;
  details: string;
}

/** The status a trailers block (or a trailers-only response) carries; undefined without grpc-status. */
export function statusFromTrailers(
  headers: Record<string, string | string[] | number | undefined>,
): CallStatus | undefined {
  const raw = headers["grpc-status"];
  if (raw === undefined) return undefined;
  const code = Number(Array.isArray(raw) ? raw[0] : raw);
  const message = headers["grpc-message"];
  const details = typeof message === "string" ? decodeGrpcMessage(message) : "";
  if (!Number.isInteger(code) || code < 0 || code > 16)
    return { code: Status.UNKNOWN, details: `invalid grpc-status ${String(raw)}` };
  return { code, details };
}

/** grpc-message is percent-encoded UTF-8; a malformed one is kept as it came. */
export function decodeGrpcMessage(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** A response whose HTTP status is not 200 (a proxy, a server that is not gRPC). */
export function statusFromHttp(httpStatus: number): CallStatus {
  const details = `Received HTTP status code ${httpStatus}`;
  switch (httpStatus) {
    case 400:
      return { code: Status.INTERNAL, details };
    case 401:
      return { code: Status.UNAUTHENTICATED, details };
    case 403:
      return { code: Status.PERMISSION_DENIED, details };
    case 404:
      return { code: Status.UNIMPLEMENTED, details };
    case 429:
    case 502:
    case 503:
    case 504:
      return { code: Status.UNAVAILABLE, details };
    default:
      return { code: Status.UNKNOWN, details };
  }
}

/** A stream the server reset (RST_STREAM) before any grpc-status. */
export function statusFromRstCode(rstCode: number): CallStatus {
  switch (rstCode) {
    case constants.NGHTTP2_REFUSED_STREAM:
      return { code: Status.UNAVAILABLE, details: "Stream refused by server" };
    case constants.NGHTTP2_CANCEL:
      return { code: Status.CANCELLED, details: "Call cancelled" };
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return { code: Status.RESOURCE_EXHAUSTED, details: "Bandwidth exhausted or memory limit exceeded" };
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return { code: Status.PERMISSION_DENIED, details: "Protocol not secure enough" };
    default:
      return { code: Status.INTERNAL, details: `Received RST_STREAM with code ${rstCode}` };
  }
}

/**
 * The grpc-timeout header for a deadline `ms` from now: at most 8 digits and
 * a unit; rounded up, so the server never gives up before the client.
 */
export function grpcTimeout(ms: number): string {
  const units: [string, number][] = [
    ["m", 1],
    ["S", 1_000],
    ["M", 60_000],
    ["H", 3_600_000],
  ];
  for (const [unit, per] of units) {
    const n = Math.ceil(Math.max(0, ms) / per);
    if (n < 100_000_000) return `${n}${unit}`;
  }
  return "99999999H";
}
