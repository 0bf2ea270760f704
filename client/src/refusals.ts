// What the customer reads when the node refuses a request. The node's own
// message is English, for support (the console): the screen says it in the
// customer's language.
import { ErrorCode } from "@parley/proto/ws";
import type { MessageKey } from "./i18n.ts";

const REFUSALS: Partial<Record<ErrorCode, MessageKey>> = {
  [ErrorCode.UNAUTHENTICATED]: "refused.expired",
  [ErrorCode.NOT_FOUND]: "refused.gone",
  [ErrorCode.RATE_LIMITED]: "refused.tooMany",
  [ErrorCode.PERMISSION_DENIED]: "refused.notAllowed",
  [ErrorCode.UNAVAILABLE]: "busy",
  // The app sent something the node did not expect, or the node failed: not the customer's doing.
  [ErrorCode.INVALID_ARGUMENT]: "refused.appError",
  [ErrorCode.BAD_FRAME]: "refused.appError",
  [ErrorCode.UNKNOWN_MESSAGE]: "refused.appError",
  [ErrorCode.OUT_OF_ORDER]: "refused.appError",
  [ErrorCode.TOO_LARGE]: "refused.appError",
  [ErrorCode.INTERNAL]: "refused.appError",
};

/** The sentence for a refusal with this code; "something went wrong" for one the customer should not meet. */
export const refusalMessage = (code: ErrorCode): MessageKey => REFUSALS[code] ?? "wrong";
