"""A worker whose shared engine stops answering (a hung GPU kernel, say): a real
gRPC server (server.build_server: the servicer over the batch scheduler) whose
engine is a test engine, `HangingTestSource`, whose transcribe blocks until the
test lets it go. The worker must fail the streams it can no longer serve, refuse
new ones and tell the bridge's probe (GetWorkerInfo) so, then serve again once
the engine answers. And a worker process (tests/hanging_worker.py) whose engine
stays stuck past --stuck-exit exits, so that its supervisor starts a fresh one."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import numpy.typing as npt
import pytest

from parley_asr.engine import ENGINES, Engine, Word
from parley_asr.gen import asr_pb2 as pb
from parley_asr.gen import asr_pb2_grpc
from parley_asr.scheduler import BatchResult, BatchScheduler, SchedulerSettings, Window
from parley_asr.server import EXIT_ENGINE_STUCK, build_server

S = 16000
CHUNK = 1600  # 100 ms
DEADLINE_S = 1.0  # the test worker's pass deadline (the scripted engine answers at once when let go)


def speech(seconds: float) -> npt.NDArray[np.int16]:
    return (np.random.default_rng(7).standard_normal(int(seconds * S)) * 3000).astype(np.int16)


def silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * S), dtype=np.int16)


class HangingTestSource:
    """A test engine: one word per half second of audio, but while `hung` is set,
    transcribe blocks (as a stuck model would) until the test clears it."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.released.set()
        self.entered = threading.Event()

    def hang(self) -> None:
        self.entered.clear()
        self.released.clear()

    def transcribe(self, windows: Sequence[Window]) -> BatchResult:
        self.entered.set()
        assert self.released.wait(60), "the test never let the engine go"
        hypotheses = []
        for w in windows:
            end = w.start + w.audio.size
            first = -(-w.start // (S // 2))
            hypotheses.append([Word(f"w{k}", k * S // 2, k * S // 2 + S // 4) for k in range(first, end // (S // 2))])
        return BatchResult(hypotheses)

    def memory_bytes(self) -> int:
        return 0


class HangingTestEngine(Engine):
    """Registered as --engine 'hanging-test' for the servicer (name and languages only)."""

    name = "hanging-test"
    languages = ("en",)
    batched = True


class Call:
    """One Recognize stream driven from the test: requests through a queue,
    responses (and the final status) collected by a reader thread."""

    def __init__(self, stub: asr_pb2_grpc.SpeechRecognizerStub, session_id: str) -> None:
        self.session_id = session_id
        self._requests: queue.Queue[pb.RecognizeRequest | None] = queue.Queue()
        self._requests.put(pb.RecognizeRequest(config=pb.StreamConfig(session_id=session_id, sample_rate_hz=S)))
        self.offset = 0
        self.responses: list[pb.RecognizeResponse] = []
        self.code: grpc.StatusCode | None = None
        self.details = ""
        self.done = threading.Event()
        self._call = stub.Recognize(iter(self._requests.get, None))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for response in self._call:
                self.responses.append(response)
            self.code = grpc.StatusCode.OK
        except grpc.RpcError as exc:
            self.code, self.details = exc.code(), exc.details() or ""
        finally:
            self.done.set()

    def send(self, audio: npt.NDArray[np.int16]) -> None:
        for i in range(0, audio.size, CHUNK):
            chunk = audio[i : i + CHUNK]
            self._requests.put(
                pb.RecognizeRequest(audio=pb.AudioChunk(offset_samples=self.offset, pcm=chunk.tobytes()))
            )
            self.offset += chunk.size

    def end(self) -> None:
        self._requests.put(pb.RecognizeRequest(end=pb.EndOfStream()))
        self._requests.put(None)

    def close(self) -> None:
        self._requests.put(None)
        self._call.cancel()

    def kinds(self) -> list[str]:
        return [r.WhichOneof("kind") or "" for r in self.responses]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout:.0f} s: {what}")
        time.sleep(0.02)


def keep_talking(call: Call, what: str) -> None:
    """Sends silence until the worker ends the call (its next audio meets the failure)."""

    def ended() -> bool:
        if not call.done.is_set():
            call.send(silence(0.1))
        return call.done.wait(0.1)

    wait_for(ended, what)


def info_status(stub: asr_pb2_grpc.SpeechRecognizerStub) -> tuple[grpc.StatusCode, str]:
    try:
        stub.GetWorkerInfo(pb.GetWorkerInfoRequest(), timeout=5)
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[HangingTestSource, asr_pb2_grpc.SpeechRecognizerStub]]:
    monkeypatch.setitem(ENGINES, HangingTestEngine.name, f"{__name__}:HangingTestEngine")
    source = HangingTestSource()
    settings = SchedulerSettings(pass_deadline_s=DEADLINE_S, finish_timeout_s=20)
    scheduler = BatchScheduler(source, HangingTestEngine.name, max_streams=4, settings=settings)
    server = build_server(scheduler, "hanging-test-worker")
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield source, asr_pb2_grpc.SpeechRecognizerStub(channel)
    finally:
        source.released.set()
        channel.close()
        server.stop(0).wait()
        scheduler.close()


def test_a_stuck_engine_fails_its_streams_refuses_new_ones_and_serves_again_once_it_answers(
    worker: tuple[HangingTestSource, asr_pb2_grpc.SpeechRecognizerStub],
) -> None:
    source, stub = worker
    calls: list[Call] = []

    def call(session_id: str) -> Call:
        calls.append(Call(stub, session_id))
        return calls[-1]

    try:
        # A customer who listens (silence: only acks), and one who starts talking.
        quiet = call("quiet")
        quiet.send(silence(1.5))
        wait_for(lambda: "ack" in quiet.kinds(), "the silent stream's first ack")
        source.hang()
        talker = call("talker")
        talker.send(speech(1.5))
        assert source.entered.wait(10), "the talker's pass reached the engine"

        # The pass outlives its deadline: the worker's probe says so.
        wait_for(lambda: info_status(stub)[0] == grpc.StatusCode.UNAVAILABLE, "GetWorkerInfo answering UNAVAILABLE")
        assert "speech engine stuck" in info_status(stub)[1]

        # Both open streams end with UNAVAILABLE (the bridge resumes them elsewhere), the
        # silent one too: the audio thread would go on acknowledging its silence.
        for open_call in (talker, quiet):
            keep_talking(open_call, f"the worker ending {open_call.session_id}")
            assert open_call.code == grpc.StatusCode.UNAVAILABLE, (open_call.code, open_call.details)
            assert "speech engine stuck" in open_call.details

        # A new stream is refused at once, with no "ready" first.
        newcomer = call("newcomer")
        newcomer.send(silence(0.2))
        assert newcomer.done.wait(10), "a new stream is answered"
        assert newcomer.code == grpc.StatusCode.UNAVAILABLE, (newcomer.code, newcomer.details)
        assert "takes no streams now" in newcomer.details and "speech engine stuck" in newcomer.details
        assert "ready" not in newcomer.kinds()

        # The engine answers again: the worker serves again, transcripts included.
        source.released.set()
        wait_for(lambda: info_status(stub)[0] == grpc.StatusCode.OK, "GetWorkerInfo answering again")
        after = call("after")
        after.send(speech(1.5))
        after.send(silence(1.0))
        after.end()
        assert after.done.wait(20), "the stream after recovery ends"
        assert after.code == grpc.StatusCode.OK, (after.code, after.details)
        finals = [r.segment for r in after.responses if r.HasField("segment") and r.segment.is_final]
        assert finals and finals[0].text.startswith("w"), after.responses
    finally:
        for c in calls:
            c.close()


class WorkerProcess:
    """tests/hanging_worker.py as a process of its own: its JSON log lines
    collected, its stdin the release of its engine's first (hung) pass."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.hanging_worker", "--engine", "hanging-test", "--port", "0", *args],
            cwd=Path(__file__).resolve().parent.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.events: list[dict[str, Any]] = []
        self._stdout: queue.Queue[bytes] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read_log, daemon=True),
            threading.Thread(target=self._read_stdout, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        line = self._stdout.get(timeout=30).decode()
        assert line.startswith("LISTENING "), (line, self.events)
        self.port = int(line.split()[1])

    def _read_log(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.events.append({"event": "text", "text": line.decode(errors="replace")})

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._stdout.put(line)
        self._stdout.put(b"")  # the process ended before LISTENING

    def event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e.get("event") == name), None)

    def release(self) -> None:
        """Lets the hung pass return."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"x")
        self.proc.stdin.flush()

    def wait_exit(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(5)  # the rest of its log
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def test_a_worker_whose_engine_stays_stuck_exits_for_its_supervisor_to_start_a_fresh_one() -> None:
    worker = WorkerProcess("--pass-deadline", "1", "--stuck-exit", "2")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
            talker = Call(asr_pb2_grpc.SpeechRecognizerStub(channel), "talker")
            talker.send(speech(1.5))  # its first pass hangs, and is never let go
            # Exits although the pass's thread is still inside its read (stdin stays open).
            code = worker.wait_exit(timeout=60)
            talker.close()
        assert code == EXIT_ENGINE_STUCK, (code, worker.events)
        names = [e.get("event") for e in worker.events]
        assert "engine_stuck" in names and "engine_recovered" not in names, names
        exit_line = worker.event("engine_stuck_exit")
        assert exit_line is not None, names
        assert names.index("engine_stuck") < names.index("engine_stuck_exit")
        assert exit_line["level"] == "error" and exit_line["exit_code"] == EXIT_ENGINE_STUCK
        assert exit_line["stuck_exit_s"] == 2 and exit_line["stuck_s"] >= 2
        assert "speech engine stuck" in exit_line["reason"]
    finally:
        worker.kill()


def test_a_worker_whose_engine_answers_again_within_stuck_exit_stays_up_and_serves() -> None:
    bound_s = 3.0
    worker = WorkerProcess("--pass-deadline", "1", "--stuck-exit", str(bound_s))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{worker.port}") as channel:
            stub = asr_pb2_grpc.SpeechRecognizerStub(channel)
            talker = Call(stub, "talker")
            talker.send(speech(1.5))
            wait_for(lambda: worker.event("engine_stuck") is not None, "the worker declaring its engine stuck")
            worker.release()
            wait_for(lambda: worker.event("engine_recovered") is not None, "the engine answering again")
            stuck = worker.event("engine_stuck")
            assert stuck is not None
            # Past the moment a stuck count that never started over would have ended it.
            while time.time() < stuck["ts"] + bound_s + 2:
                time.sleep(0.1)
            assert worker.proc.poll() is None, worker.events
            assert worker.event("engine_stuck_exit") is None
            assert info_status(stub)[0] == grpc.StatusCode.OK
            talker.close()
    finally:
        worker.kill()
