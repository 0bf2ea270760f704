"""The exec liveness probe (parley_asr.probe) against real gRPC servers: alive
when the worker's Python answers, its engine stuck included; not alive when
nothing answers in time, although the port accepts connections (what the TCP
probe it replaces would pass)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from test_stuck_engine import DEADLINE_S, Call, HangingTestEngine, HangingTestSource, speech, wait_for

from parley_asr.engine import ENGINES
from parley_asr.gen import asr_pb2 as pb
from parley_asr.gen import asr_pb2_grpc
from parley_asr.probe import alive, main
from parley_asr.scheduler import BatchScheduler, SchedulerSettings
from parley_asr.server import build_server
from parley_asr.service import SpeechRecognizer


class Served:
    def __init__(self, source: HangingTestSource, scheduler: BatchScheduler, token: str = "") -> None:
        self.source, self.scheduler = source, scheduler
        self.server = build_server(scheduler, "probe-test-worker", token)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setitem(ENGINES, HangingTestEngine.name, "test_stuck_engine:HangingTestEngine")
    source = HangingTestSource()
    settings = SchedulerSettings(pass_deadline_s=DEADLINE_S, finish_timeout_s=20)
    scheduler = BatchScheduler(source, HangingTestEngine.name, max_streams=2, settings=settings)
    worker = Served(source, scheduler)
    try:
        yield worker
    finally:
        source.released.set()
        worker.server.stop(0).wait()
        scheduler.close()


def test_a_serving_worker_is_alive(served: Served) -> None:
    assert alive(served.port, 5) == (True, "ok")
    assert main(["--port", str(served.port)]) == 0


def test_a_worker_that_wants_a_token_is_asked_with_asr_auth_token(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    guarded = Served(served.source, served.scheduler, token="probe-secret")
    try:
        monkeypatch.setenv("ASR_AUTH_TOKEN", "probe-secret")
        assert alive(guarded.port, 5) == (True, "ok")
        # A wrong token is refused by the worker's Python: an answer all the same.
        monkeypatch.setenv("ASR_AUTH_TOKEN", "wrong")
        ok, why = alive(guarded.port, 5)
        assert ok and why.startswith("UNAUTHENTICATED"), why
    finally:
        guarded.server.stop(0).wait()


def test_a_worker_whose_engine_is_stuck_is_alive_for_stuck_exit_to_restart(served: Served) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{served.port}") as channel:
        stub = asr_pb2_grpc.SpeechRecognizerStub(channel)
        served.source.hang()
        talker = Call(stub, "talker")
        talker.send(speech(1.5))
        assert served.source.entered.wait(10)
        wait_for(lambda: served.scheduler.unavailable is not None, "the engine declared stuck")
        ok, why = alive(served.port, 5)
        assert ok and why.startswith("UNAVAILABLE") and "speech engine stuck" in why, why
        served.source.released.set()
        talker.close()


class Unanswering(SpeechRecognizer):
    """A worker whose Python no longer answers (as under a hang holding the GIL)."""

    def __init__(self) -> None:
        self.gate = threading.Event()

    def GetWorkerInfo(self, request: pb.GetWorkerInfoRequest, context: grpc.ServicerContext) -> pb.WorkerInfo:
        self.gate.wait(30)
        return pb.WorkerInfo()


def test_a_worker_that_does_not_answer_is_not_alive() -> None:
    servicer = Unanswering()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    asr_pb2_grpc.add_SpeechRecognizerServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        assert alive(port, 1) == (False, "GetWorkerInfo unanswered in 1 s")
        assert main(["--port", str(port), "--timeout", "1"]) == 1
    finally:
        servicer.gate.set()
        server.stop(0).wait()


def test_a_port_that_accepts_but_never_speaks_grpc_is_not_alive() -> None:
    # What a TCP probe passes: the connection is accepted, nothing more.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        ok, why = alive(listener.getsockname()[1], 1)
        assert not ok and why.startswith("no connection"), why
    finally:
        listener.close()


def test_nothing_listening_is_not_alive() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free once closed
    ok, _ = alive(port, 1)
    assert not ok
