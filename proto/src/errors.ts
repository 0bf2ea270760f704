// One error type across the edge, media plane and bridge. Its code is the
// wire code the client receives; `retryable` says whether trying again later
// can succeed (livekit/agents' habit).
import { ErrorCode } from "./gen/parley/ws/v1/ws_pb.ts";

export { ErrorCode };

export class ParleyError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  /** A hint of when trying again may succeed (0: none). */
  readonly retryAfterMs: number;
  /** With WRONG_NODE: where the session lives. */
  readonly redirectUrl: string;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; retryAfterMs?: number; redirectUrl?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ParleyError";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs ?? 0;
    this.redirectUrl = options.redirectUrl ?? "";
  }

  /** Short label for metrics and logs, e.g. "OUT_OF_ORDER". */
  get label(): string {
    return ErrorCode[this.code] ?? "UNKNOWN";
  }
}

export const toParleyError = (error: unknown): ParleyError =>
  error instanceof ParleyError ? error : new ParleyError(ErrorCode.INTERNAL, "internal error", { cause: error });
