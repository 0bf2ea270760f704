// What went wrong, in the viewer's words. The node's messages and the
// browser's network errors are English and technical: they go to the
// console, for support; the screen says it in the dashboard's language,
// from the node's error code (or the login's HTTP answer).
import { ErrorCode } from "@parley/proto/errors";
import { NotConnectedError, RequestError } from "./connection.ts";
import type { MessageKey } from "./i18n.ts";
import { t } from "./ui.ts";

const BY_CODE: Partial<Record<ErrorCode, MessageKey>> = {
  [ErrorCode.UNAUTHENTICATED]: "problem.expired",
  [ErrorCode.NOT_FOUND]: "problem.gone",
  [ErrorCode.RATE_LIMITED]: "problem.tooMany",
  [ErrorCode.PERMISSION_DENIED]: "problem.notAllowed",
  [ErrorCode.INVALID_ARGUMENT]: "problem.invalid",
  [ErrorCode.TOO_LARGE]: "problem.invalid",
  [ErrorCode.UNAVAILABLE]: "problem.busy",
};

/** A login or other HTTP answer that is not what the page expected. */
export class HttpProblem extends Error {
  readonly status: number;
  /** "unreachable": no answer at all; "unreadable": an answer that is not the JSON expected. */
  readonly kind: "unreachable" | "unreadable" | "status";
  constructor(kind: HttpProblem["kind"], status: number, detail: string) {
    super(detail);
    this.kind = kind;
    this.status = status;
  }
}

/** The error as a phrase for the templates' {reason} (call it where it is shown: it follows a language switch). */
export function problemText(error: unknown): string {
  if (error instanceof RequestError) return t(BY_CODE[error.code as ErrorCode] ?? "problem.server");
  if (error instanceof NotConnectedError) return t("problem.notConnected");
  if (error instanceof HttpProblem) {
    if (error.kind === "unreachable") return t("problem.unreachable");
    if (error.kind === "unreadable") return t("problem.unreadable");
    if (error.status === 400) return t("problem.invalid");
    if (error.status >= 500) return t("problem.server");
    return t("problem.http", { status: error.status });
  }
  return t("problem.unknown");
}

/** The technical detail, for whoever debugs (the console), once, where the failure is caught. */
export function logProblem(what: string, error: unknown): void {
  if (error instanceof RequestError)
    console.warn(`${what}: the node refused`, ErrorCode[error.code] ?? error.code, error.message);
  else console.warn(`${what}:`, error);
}
