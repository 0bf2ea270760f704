// Which database failures are worth retrying: the connection is gone or the
// server is starting, stopping or short of resources. A constraint violation
// or bad data fails the same way every time.

import { ErrorCode, ParleyError } from "@parley/proto/errors";

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "CONNECT_TIMEOUT",
]);

// SQLSTATE classes: 08 connection exception, 40 transaction rollback (serialization,
// deadlock), 53 insufficient resources, 57 operator intervention (shutdown, starting up), 58 system error.
const RETRYABLE_SQLSTATE_CLASSES = new Set(["08", "40", "53", "57", "58"]);

// Single codes of other classes that pass with time: 25006 read_only_sql_transaction (a
// hot standby, or a primary being failed over, refuses writes until promotion) and
// 25P03 idle_in_transaction_session_timeout (the server closed the session).
const RETRYABLE_SQLSTATES = new Set(["25006", "25P03"]);

export function isRetryableDbError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  if (CONNECTION_CODES.has(code)) return true;
  if (RETRYABLE_SQLSTATES.has(code)) return true;
  return code.length === 5 && RETRYABLE_SQLSTATE_CLASSES.has(code.slice(0, 2));
}

/** SQLSTATE of an insert naming a row that does not exist (a business, a store). */
export const FOREIGN_KEY_VIOLATION = "23503";

/**
 * PostgreSQL refused a value the request carried (class 22, data exception:
 * a NUL in text, a number out of range or of the wrong kind). The request's
 * fault, not the server's.
 */
export function isInvalidValueDbError(error: unknown): boolean {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" && code.length === 5 && code.startsWith("22");
}

/** When a client may try again after the database could not answer (a restart, a failover). */
const DATABASE_RETRY_AFTER_MS = 1_000;

/** A retryable UNAVAILABLE for a request the database could not serve now. */
export function databaseUnavailable(message: string, cause: unknown): ParleyError {
  return new ParleyError(ErrorCode.UNAVAILABLE, message, {
    retryable: true,
    retryAfterMs: DATABASE_RETRY_AFTER_MS,
    cause,
  });
}
