// The embedded speech worker's stderr, into the node's log. The worker writes
// one JSON object per line (asr-worker/parley_asr/log.py): each becomes a pino
// line with its `session_id` as the node's `sessionId`, so that it is found
// with the rest of that conversation's lines. Warnings and errors keep their
// level, so that a worker's failure is seen; its routine lines (a stream
// started, a final, a stream ended: the node logs its side of each) stay at
// debug, as does anything not JSON (pocketsphinx's C library prints text).
import type { Logger } from "pino";

type Level = "debug" | "warn" | "error";

const LEVELS: Record<string, Level> = { warning: "warn", warn: "warn", error: "error", critical: "error" };

const MAX_LINE_CHARS = 65_536;

/** Returns a handler for the worker's stderr chunks; lines split across chunks are joined first. */
export function forwardWorkerLog(logger: Logger): (chunk: Buffer) => void {
  let partial = "";
  return (chunk) => {
    const lines = (partial + chunk.toString("utf8")).split("\n");
    partial = lines.pop() ?? "";
    // A line longer than this without its end is no log line of the worker's: let it out as it is.
    if (partial.length > MAX_LINE_CHARS) {
      lines.push(partial);
      partial = "";
    }
    for (const line of lines) if (line.trim()) logLine(logger, line);
  };
}

function logLine(logger: Logger, line: string): void {
  let record: unknown;
  try {
    record = line.startsWith("{") ? JSON.parse(line) : undefined;
  } catch {
    record = undefined;
  }
  if (!record || typeof record !== "object" || Array.isArray(record)) {
    logger.debug(line);
    return;
  }
  const { event, level, session_id: sessionId, ts: _ts, ...fields } = record as Record<string, unknown>;
  const pinoLevel = (typeof level === "string" && LEVELS[level]) || "debug";
  const context = typeof sessionId === "string" && sessionId ? { sessionId, ...fields } : fields;
  logger[pinoLevel](context, typeof event === "string" ? `speech worker: ${event}` : "speech worker");
}
