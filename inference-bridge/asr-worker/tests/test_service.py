"""Freeing a stream when the client cancels: the servicer's _Run over a ProcessStream.
And opening one without waiting for its engine process to load its model."""

from __future__ import annotations

import threading

from parley_asr.engine import Event, StreamSettings
from parley_asr.service import _Run
from parley_asr.workers import ProcessPool, ProcessStream, Request, _Process


class HeldProcess(_Process):
    """An engine process double (no child): an `accept` waits for `gate`, like a slow or hung engine."""

    def __init__(self) -> None:
        self.ready = True
        self.broken = False
        self.gate = threading.Event()
        self.in_call = threading.Event()
        self.posted: list[Request] = []

    def call(self, request: Request) -> list[Event]:
        if request[0] == "accept":
            self.in_call.set()
            self.gate.wait(10)
        return []

    def post(self, request: Request) -> None:
        self.posted.append(request)


class CountingPool(ProcessPool):
    """Records releases; no processes."""

    def __init__(self) -> None:
        self.released: list[_Process] = []
        self.freed = threading.Event()

    def release(self, process: _Process) -> None:
        self.released.append(process)
        self.freed.set()


def test_a_cancel_does_not_wait_for_the_engine_call_in_flight() -> None:
    process, pool = HeldProcess(), CountingPool()
    stream = ProcessStream(pool, process, StreamSettings("s", 16000, "en", 0))
    run = _Run()
    run.attach(stream)
    # The stream's own (gRPC handler) thread is inside an engine call.
    handler = threading.Thread(target=stream.accept, args=(b"\0\0", 0), daemon=True)
    handler.start()
    assert process.in_call.wait(5)
    # grpc runs the cancel callback on its polling thread.
    callback = threading.Thread(target=run.terminated, daemon=True)
    callback.start()
    try:
        callback.join(5)
        assert not callback.is_alive(), "the cancel callback waited for the engine call in flight"
        assert pool.released == [], "the process is still busy: not free for another stream yet"
    finally:
        process.gate.set()
    handler.join(5)
    assert pool.freed.wait(5), "the process is released once its call returned"
    run.close()  # the handler's own cleanup afterwards: nothing left to free
    assert pool.released == [process]
    assert process.posted == [("abort",)]


class LoadingProcess(_Process):
    """An engine process double still loading its model: every call waits for `loaded`."""

    def __init__(self) -> None:
        self.ready = False
        self.broken = False
        self.loaded = threading.Event()
        self.calls: list[str] = []
        self.posted: list[Request] = []

    def call(self, request: Request) -> list[Event]:
        self.loaded.wait(10)
        self.calls.append(request[0])
        return []

    def post(self, request: Request) -> None:
        self.posted.append(request)


def test_a_new_stream_does_not_wait_for_its_engine_process_to_load_its_model() -> None:
    # A burst of new streams on a fresh worker spawns a process for each, loading at once
    # on few CPUs: measured 10 s to "ready" for 4 streams on 2 CPUs, past the bridge's 5 s.
    process, pool = LoadingProcess(), CountingPool()
    opened: list[ProcessStream] = []
    opener = threading.Thread(
        target=lambda: opened.append(ProcessStream(pool, process, StreamSettings("s", 16000, "en", 0))), daemon=True
    )
    opener.start()
    try:
        opener.join(5)
        assert opened, "the stream (and so its 'ready') waited for the model to load"
        # Its first audio opens it in the process once the model is there, then is decoded.
        first = threading.Thread(target=opened[0].accept, args=(b"\0\0", 0), daemon=True)
        first.start()
        process.loaded.set()
        first.join(5)
        assert process.calls == ["open", "accept"]
    finally:
        process.loaded.set()


def test_a_stream_closed_before_its_first_audio_frees_its_process_without_an_abort() -> None:
    process, pool = LoadingProcess(), CountingPool()
    stream = ProcessStream(pool, process, StreamSettings("s", 16000, "en", 0))
    stream.close()
    assert pool.released == [process]
    assert process.calls == [] and process.posted == []  # nothing was opened in the process


def test_a_stream_ended_before_its_first_audio_waits_for_no_model_load() -> None:
    # A resumed stream with nothing left to decode ends at once: the bridge gives end() 5 s.
    process, pool = LoadingProcess(), CountingPool()
    stream = ProcessStream(pool, process, StreamSettings("s", 16000, "en", 0))
    assert stream.finish() == []
    assert process.calls == []  # never opened, so never waited for the model
    stream.close()
    assert pool.released == [process] and process.posted == []
