"""gRPC servicer: parley.asr.v1.SpeechRecognizer over a StreamPool (a process
per stream, or one batch scheduler: see pool.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import grpc

from .engine import EngineStream, Event, engine_class
from .gen import asr_pb2 as pb
from .gen import asr_pb2_grpc
from .log import log
from .pool import StreamPool
from .session import ProtocolError, Session
from .workers import EngineFailure, EngineStuck


class SpeechRecognizer(asr_pb2_grpc.SpeechRecognizerServicer):
    def __init__(self, pool: StreamPool, worker_id: str) -> None:
        self._pool = pool
        self._worker_id = worker_id
        engine = engine_class(pool.engine_name)
        self._engine_name, self._languages = engine.name, tuple(engine.languages)

    def GetWorkerInfo(self, request: pb.GetWorkerInfoRequest, context: grpc.ServicerContext) -> pb.WorkerInfo:
        # The bridge's probe: a worker that cannot serve streams now (its engine is stuck)
        # says so, and the bridge places no stream here until it answers again.
        unavailable = self._pool.unavailable
        if unavailable is not None:
            context.abort(grpc.StatusCode.UNAVAILABLE, f"worker {self._worker_id}: {unavailable}")
        return pb.WorkerInfo(
            worker_id=self._worker_id,
            engine=self._engine_name,
            max_streams=self._pool.size,
            active_streams=self._pool.active,
            languages=self._languages,
            lag_ms=self._pool.lag_ms,
        )

    def Recognize(
        self, request_iterator: Iterator[pb.RecognizeRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.RecognizeResponse]:
        run = _Run()
        # Runs when the RPC terminates for any reason, also when the client
        # cancels or disconnects while we wait for its next request: frees
        # the engine process at once.
        context.add_callback(run.terminated)
        try:
            yield from self._recognize(request_iterator, context, run)
        except grpc.RpcError:
            pass  # the client went away while we read its next request: logged by terminated()
        except ProtocolError as exc:
            run.end("stream_rejected", level="warning", error=str(exc))
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except EngineStuck as exc:  # not this stream's fault: the bridge resumes it on another worker
            run.end("stream_failed", level="error", error=str(exc))
            context.abort(grpc.StatusCode.UNAVAILABLE, f"worker {self._worker_id}: {exc}")
        except EngineFailure as exc:
            run.end("stream_failed", level="error", error=str(exc))
            context.abort(grpc.StatusCode.INTERNAL, f"speech engine failed: {exc}")
        finally:
            run.close()

    def _recognize(
        self, requests: Iterator[pb.RecognizeRequest], context: grpc.ServicerContext, run: _Run
    ) -> Iterator[pb.RecognizeResponse]:
        first = next(requests, None)
        if first is None:
            run.end("stream_empty")
            return
        kind = first.WhichOneof("kind")
        if kind != "config":
            raise ProtocolError(f"the first RecognizeRequest must be a config, got {kind or 'an empty request'}")
        run.session_id = first.config.session_id
        session = Session(first.config, self._engine_name, self._languages, self._worker_id)
        run.session = session
        try:
            stream = self._pool.open(session.settings)
        except EngineStuck as exc:
            run.end("stream_refused", level="warning", error=str(exc))
            context.abort(grpc.StatusCode.UNAVAILABLE, f"worker {self._worker_id} takes no streams now: {exc}")
            return  # not reached: abort() raises
        if stream is None:
            run.end("stream_refused", level="warning", max_streams=self._pool.size)
            context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"worker {self._worker_id} is at its limit of {self._pool.size} streams",
            )
            return  # not reached: abort() raises
        run.attach(stream)
        run.log(
            "stream_start",
            start_offset_samples=session.settings.start_offset_samples,
            first_segment_id=session.segment_id,
            language=session.language,
            hints=len(session.settings.hints),
            active_streams=self._pool.active,
        )
        yield session.ready()

        for request in requests:
            kind = request.WhichOneof("kind")
            if kind == "audio":
                session.take_audio(request.audio)
                started = time.monotonic()
                events = stream.accept(request.audio.pcm, request.audio.offset_samples)
                run.busy_s += time.monotonic() - started
                yield from self._send(session, events, run)
            elif kind == "end":
                break
            else:
                raise ProtocolError(f"unexpected {kind or 'empty'} request after the config")
        else:
            if not context.is_active():
                return  # cancelled (grpc may report that as a half-close): logged by terminated()
            # Half-closed without `end`: same as `end`, nothing more can come.
            run.log("stream_half_closed")
        yield from self._send(session, stream.finish(), run)
        run.end("stream_end")

    @staticmethod
    def _send(session: Session, events: list[Event], run: _Run) -> Iterator[pb.RecognizeResponse]:
        for response in session.responses(events):
            if response.HasField("segment") and response.segment.is_final:
                s = response.segment
                run.log(
                    "final",
                    segment_id=s.segment_id,
                    start_ms=s.start_ms,
                    end_ms=s.end_ms,
                    words=len(s.words),
                    speech_final=s.speech_final,
                )
            yield response


class _Run:
    """Bookkeeping of one Recognize call: logging, and freeing the engine
    stream exactly once, from whichever thread gets there first."""

    def __init__(self) -> None:
        self.session: Session | None = None
        # Known from the config even when the session is refused (a language it lacks, a bad rate).
        self.session_id = ""
        self.busy_s = 0.0  # time spent in the engine
        self._stream: EngineStream | None = None
        self._ended = False
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def attach(self, stream: EngineStream) -> None:
        with self._lock:
            self._stream = stream

    def log(self, event: str, level: str = "info", **fields: object) -> None:
        if self.session_id:
            fields = {"session_id": self.session_id, **fields}
        log(event, level=level, **fields)

    def end(self, event: str, level: str = "info", **fields: object) -> None:
        with self._lock:
            if self._ended:
                return
            self._ended = True
        if self.session is not None:
            received = self.session.next_offset - self.session.settings.start_offset_samples
            fields.update(
                finals=self.session.finals,
                audio_s=round(received / 16000, 2),
                engine_s=round(self.busy_s, 2),
                wall_s=round(time.monotonic() - self._started, 2),
            )
        self.log(event, level=level, **fields)

    def terminated(self) -> None:
        self.end("stream_cancelled", level="warning")  # no-op after a normal end
        # grpc runs this callback on its one polling thread: closing here could
        # wait for an engine call in flight (up to CALL_TIMEOUT_S on a hung
        # process) and for a dead process's joins, stalling every stream. Take
        # the stream (so it is freed exactly once) and close it on a thread.
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            threading.Thread(target=stream.close, name="stream-close", daemon=True).start()

    def close(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
