"""Engine streams in worker processes, one stream per process at a time.

pocketsphinx holds the GIL while it decodes (measured: a Python thread next
to one decoding thread got the GIL back only every ~15-400 ms), so decoding
in gRPC's threads would serialise all streams on one core and starve the
server's own threads. Each stream therefore runs in its own process; the gRPC
thread only forwards chunks over a pipe and waits (without the GIL). A
process keeps its engine (models loaded once) between streams, and prepares
for the next stream in the idle time after one ends (Engine.prepare_next).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from typing import Literal

from . import log as logmod
from .engine import Engine, EngineStream, Event, StreamSettings, engine_class
from .log import log

CALL_TIMEOUT_S = 30.0  # a chunk or a flush never takes this long; the process hung


class EngineFailure(Exception):
    """The engine raised, or its process died or hung."""


class EngineStuck(EngineFailure):
    """The shared engine has not answered within its deadline: the worker serves no
    stream until it does (gRPC UNAVAILABLE; the bridge resumes the stream elsewhere)."""


# The pipe's protocol. The parent sends requests; the child answers each but
# "abort" with a reply, and announces with ("ok", []) once its model is loaded.
Request = (
    tuple[Literal["open"], StreamSettings]
    | tuple[Literal["accept"], bytes, int]
    | tuple[Literal["finish"]]
    | tuple[Literal["abort"]]
)
Reply = tuple[Literal["ok"], list[Event]] | tuple[Literal["error"], str]


# -- child side ---------------------------------------------------------------


def _serve(conn: Connection, engine_name: str, log_context: dict[str, object]) -> None:
    # Ctrl-C reaches the whole process group: let the parent shut us down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logmod.configure(**log_context, engine_pid=os.getpid())
    engine = engine_class(engine_name)()
    engine.warm_up()
    ready: Reply = ("ok", [])
    conn.send(ready)
    stream: EngineStream | None = None
    while True:
        try:
            request: Request = conn.recv()
        except (EOFError, OSError):  # the server went away
            break
        if request[0] == "abort":  # no reply: the client has already moved on
            if stream is not None:
                stream.close()
                stream = None
                _prepare_next(engine)
            continue
        had_stream = stream is not None
        reply: Reply
        try:
            match request:
                case ("open", settings):
                    stream = engine.new_stream(settings)
                    reply = ("ok", [])
                case ("accept", pcm, offset_samples):
                    reply = ("ok", _opened(stream).accept(pcm, offset_samples))
                case ("finish",):
                    reply = ("ok", _opened(stream).finish())
                    _opened(stream).close()
                    stream = None
                case _:
                    raise ValueError(f"unknown request {request[0]!r}")
        except Exception as exc:  # report, and stay usable for the next stream
            log("engine_error", level="error", op=request[0], error=repr(exc))
            reply = ("error", f"{type(exc).__name__}: {exc}")
            if stream is not None:
                try:
                    stream.close()
                finally:
                    stream = None
        conn.send(reply)
        if had_stream and stream is None:  # the stream ended: use the idle time
            _prepare_next(engine)


def _prepare_next(engine: Engine) -> None:
    try:
        engine.prepare_next()
    except Exception as exc:  # the next stream will try again, and report
        log("engine_error", level="error", op="prepare_next", error=repr(exc))


def _opened(stream: EngineStream | None) -> EngineStream:
    if stream is None:
        raise ValueError("no stream is open")
    return stream


# -- parent side --------------------------------------------------------------


class _Process:
    def __init__(self, ctx: SpawnContext, engine_name: str) -> None:
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_serve, args=(child, engine_name, logmod.context()), name="parley-asr-engine", daemon=True
        )
        self.proc.start()
        child.close()
        self.ready = False
        self.broken = False

    def call(self, request: Request) -> list[Event]:
        try:
            if not self.ready:  # first use: wait for the model to load
                self._receive(60.0)
                self.ready = True
            self.conn.send(request)
            reply = self._receive(CALL_TIMEOUT_S)
        except (OSError, EOFError, TimeoutError) as exc:
            self.broken = True
            raise EngineFailure(f"engine process {self.proc.pid} failed: {exc!r}") from exc
        match reply:
            case ("ok", events):
                return events
            case ("error", description):
                raise EngineFailure(description)

    def post(self, request: Request) -> None:
        try:
            self.conn.send(request)
        except OSError:
            self.broken = True

    def _receive(self, timeout: float) -> Reply:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        reply: Reply = self.conn.recv()
        return reply

    def stop(self) -> None:
        self.conn.close()  # the child exits on EOF
        self.proc.join(1.0)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(1.0)


class ProcessStream(EngineStream):
    """An EngineStream running in a leased process. Thread-safe close()."""

    def __init__(self, pool: ProcessPool, process: _Process, settings: StreamSettings) -> None:
        self._pool, self._process = pool, process
        self._lock = threading.Lock()  # one pipe conversation at a time
        # Opened in the process with the stream's first call, not here: a process
        # spawned for this stream is still loading its model (seconds; a burst of
        # new streams on a fresh worker loads several at once on few CPUs), and the
        # stream's "ready" waits for this constructor. The bridge gives "ready" 5 s
        # and marks a worker that misses it down; the audio waits in its replay
        # ring meanwhile, and its stall watchdog covers a load that never ends.
        self._settings: StreamSettings | None = settings
        self._finished = False
        self._closed = False

    def accept(self, pcm: bytes, offset_samples: int) -> list[Event]:
        return self._call(("accept", pcm, offset_samples))

    def finish(self) -> list[Event]:
        with self._lock:
            if self._settings is not None and not self._closed:
                # Ended before any audio (a resumed stream with nothing left): nothing to
                # decode, so no model load to wait for; the process was never opened.
                self._finished = True
                return []
        events = self._call(("finish",))
        self._finished = True
        return events

    def close(self) -> None:
        # Waits for a call in flight (one decode batch, or a first call still waiting for
        # its process to load the model), so that the process is idle before another
        # stream may lease it. It runs on its own thread (service.py): nothing stalls.
        with self._lock:
            if self._closed:
                return
            self._closed = True
            opened = self._settings is None
            if opened and not self._finished and not self._process.broken:
                self._process.post(("abort",))
        self._pool.release(self._process)

    def _call(self, request: Request) -> list[Event]:
        with self._lock:
            if self._closed:
                raise EngineFailure("stream closed")
            if self._settings is not None:  # the first call: open the stream (waits for the model)
                settings, self._settings = self._settings, None
                self._process.call(("open", settings))
            return self._process.call(request)


class ProcessPool:
    """Up to `size` engine processes. Keeps one spare warm so that a new stream
    rarely waits for a process to start and load its model."""

    def __init__(self, engine_name: str, size: int, warm: int = 1) -> None:
        self.engine_name = engine_name
        self.size = size
        self._ctx = multiprocessing.get_context("spawn")  # never fork a gRPC process
        self._lock = threading.Lock()
        self._idle: list[_Process] = []
        self._leased = 0
        self._all: set[_Process] = set()
        for _ in range(min(warm, size)):
            self._idle.append(self._spawn())

    @property
    def active(self) -> int:
        return self._leased

    @property
    def lag_ms(self) -> float:
        return 0.0  # not measured: each stream decodes as its audio arrives

    @property
    def unavailable(self) -> str | None:
        # A hung process fails its own stream (CALL_TIMEOUT_S) and is replaced: the others are unaffected.
        return None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the initial processes have loaded their model."""
        deadline = time.monotonic() + timeout
        for process in list(self._idle):
            if not process.ready:
                if not process.conn.poll(max(0.0, deadline - time.monotonic())):
                    raise EngineFailure("engine process did not start")
                process.conn.recv()
                process.ready = True

    def open(self, settings: StreamSettings) -> ProcessStream | None:
        """A stream on a free process, or None when all `size` are busy."""
        with self._lock:
            for dead in [p for p in self._idle if not p.proc.is_alive()]:  # died while idle
                self._idle.remove(dead)
                self._all.discard(dead)
            if self._idle:
                # The one idle longest: a process that has just ended a stream
                # may still be preparing for the next (Engine.prepare_next).
                process = self._idle.pop(0)
            elif len(self._all) < self.size:
                process = self._spawn()
            else:
                return None
            self._leased += 1
            if not self._idle and len(self._all) < self.size:
                self._idle.append(self._spawn())  # the spare, loading in the background
        return ProcessStream(self, process, settings)

    def release(self, process: _Process) -> None:
        with self._lock:
            self._leased -= 1
            if process.broken or not process.proc.is_alive():
                self._all.discard(process)
                dead = process
            else:
                self._idle.append(process)
                dead = None
        if dead is not None:
            log("engine_process_replaced", level="warning", pid=dead.proc.pid, exitcode=dead.proc.exitcode)
            dead.stop()

    def close(self) -> None:
        with self._lock:
            processes, self._all, self._idle = list(self._all), set(), []
        for process in processes:
            process.stop()

    def _spawn(self) -> _Process:
        process = _Process(self._ctx, self.engine_name)
        self._all.add(process)
        return process
