import { Writable } from "node:stream";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { forwardWorkerLog } from "../src/asrWorkerLog.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { forward: forwardWorkerLog(pino({ level: "debug" }, stream)), lines };
}

const LEVEL = { debug: 20, warn: 40, error: 50 };

describe("the speech worker's stderr in the node's log", () => {
  it("names the conversation as sessionId, and keeps warnings and errors at their level", () => {
    const { forward, lines } = capture();
    forward(
      Buffer.from(
        [
          '{"ts": 1.5, "level": "error", "event": "engine_error", "worker_id": "w1", "session_id": "s-1", "op": "accept"}',
          '{"ts": 1.6, "level": "warning", "event": "stream_cancelled", "session_id": "s-2"}',
          '{"ts": 1.7, "level": "info", "event": "final", "session_id": "s-1", "words": 3}',
          '{"ts": 1.8, "level": "info", "event": "stopping", "active_streams": 0}',
          "",
        ].join("\n"),
      ),
    );
    expect(lines).toEqual([
      expect.objectContaining({
        level: LEVEL.error,
        msg: "speech worker: engine_error",
        sessionId: "s-1",
        worker_id: "w1",
        op: "accept",
      }),
      expect.objectContaining({ level: LEVEL.warn, msg: "speech worker: stream_cancelled", sessionId: "s-2" }),
      expect.objectContaining({ level: LEVEL.debug, msg: "speech worker: final", sessionId: "s-1", words: 3 }),
      expect.objectContaining({ level: LEVEL.debug, msg: "speech worker: stopping", active_streams: 0 }),
    ]);
    expect(lines.every((l) => !("session_id" in l) && !("ts" in l))).toBe(true);
    expect(lines[3]).not.toHaveProperty("sessionId");
  });

  it("joins a line split across chunks, and passes text that is not JSON through at debug", () => {
    const { forward, lines } = capture();
    forward(Buffer.from('INFO: pocketsphinx.c(123): loaded\n{"level": "error", "event": "bat'));
    expect(lines).toHaveLength(1);
    forward(Buffer.from('ch_failed", "session_id": "s-3"}\n{not json\n'));
    expect(lines).toEqual([
      expect.objectContaining({ level: LEVEL.debug, msg: "INFO: pocketsphinx.c(123): loaded" }),
      expect.objectContaining({ level: LEVEL.error, msg: "speech worker: batch_failed", sessionId: "s-3" }),
      expect.objectContaining({ level: LEVEL.debug, msg: "{not json" }),
    ]);
  });

  it("lets out a runaway line without an end rather than holding it", () => {
    const { forward, lines } = capture();
    forward(Buffer.from("x".repeat(70_000)));
    expect(lines).toHaveLength(1);
    expect(String(lines[0]!.msg)).toHaveLength(70_000);
    forward(Buffer.from("tail\n"));
    expect(lines.map((l) => l.msg)).toEqual(["x".repeat(70_000), "tail"]);
  });
});
