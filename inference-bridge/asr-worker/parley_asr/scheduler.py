"""One batch scheduler per worker process, serving many streams.

Streams hand their audio to the scheduler from the gRPC threads (cheap: a
copy into the stream's buffer and a voice-activity check). One scheduler
thread runs ticks: it collects the streams due for a pass, hands their
windows to a `HypothesisSource` as ONE batch (for Whisper: one batched
encoder pass and one batched decode), and fans the hypotheses back through
each stream's LocalAgreement-2 policy into engine events.

A stream is due for a pass when
- it is in speech and has `update_s` of audio no pass has seen (a partial),
- an utterance ended (voice-activity hangover): the final pass over it,
- the client ended the stream while speech was open (flush).
A silent stream is never due: it costs only its voice-activity check.

The window of a pass is the stream's audio since its last trim point, not
padded: the buffer is trimmed behind confirmed words once they span
`trim_after_s` (a final with speech_final=false), and cut at `max_window_s`
whatever was confirmed. Audio before the window is committed.

A pass that outlives `pass_deadline_s` means the engine is stuck (a hung
kernel or driver): a watchdog thread then fails every open stream with
EngineStuck (the bridge resumes them on another worker from their committed
audio), refuses new ones and makes `unavailable` say why, until the pass
returns (a pass that never does: the server exits after --stuck-exit, for
its supervisor to start a fresh process). Without it, silent streams kept
getting commits from the audio thread while every stream that spoke waited
for the bridge's 30 s stall watchdog, and the worker, having shed its
streams, looked like the freest.

Plain logic: the model is behind `HypothesisSource`; the unit tests drive the
scheduler with a scripted source.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from .agreement import LocalAgreement
from .engine import Commit, EngineStream, Event, Final, Partial, StreamSettings, Word
from .log import log
from .vad import EnergyVad, SpeechEnd, SpeechStart, VadSettings
from .workers import EngineFailure, EngineStuck

SAMPLE_RATE = 16000
PROMPT_CHARS = 200  # text context handed to each pass (whisper_streaming keeps 200 characters)


@dataclass(frozen=True)
class Window:
    """One stream's audio for one pass."""

    key: int
    audio: npt.NDArray[np.int16]  # a view of the stream's buffer: read-only for the source
    start: int  # absolute sample offset of audio[0]
    language: str
    prompt: str  # text before the window, as context


@dataclass
class BatchResult:
    hypotheses: list[list[Word]]  # per window, in order; absolute sample times
    encoder_s: float = 0.0
    decoder_s: float = 0.0


class HypothesisSource(Protocol):
    """Transcribes a batch of windows (the model side of the scheduler)."""

    def transcribe(self, windows: Sequence[Window]) -> BatchResult: ...

    def memory_bytes(self) -> int:
        """Accelerator memory in use (peak), 0 where not measured."""
        ...


@dataclass(frozen=True)
class SchedulerSettings:
    update_s: float = 1.0  # new speech per partial pass
    trim_after_s: float = 4.0  # trim the buffer behind confirmed words spanning this much
    max_window_s: float = 15.0  # cut an utterance's window here, confirmed or not
    preroll_s: float = 0.2  # audio kept before detected speech
    tail_s: float = 0.2  # silence kept after it in the final pass
    idle_commit_s: float = 1.0  # commit silent audio this often
    max_batch: int = 64  # windows per pass
    finish_timeout_s: float = 30.0
    # A pass running longer than this means the engine is stuck (see the module's
    # docstring). Far above the longest expected pass: the Whisper engine derives it
    # from its start-up measurement (at least 10 s), --pass-deadline overrides.
    pass_deadline_s: float = 10.0
    stats_interval_s: float = 10.0  # a `scheduler_stats` log line this often
    vad: VadSettings = field(default_factory=VadSettings)


@dataclass
class TickStats:
    """What the last interval's ticks did (for logs, WorkerInfo and benchmarks)."""

    ticks: int = 0
    windows: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    encoder_s: list[float] = field(default_factory=list)
    decoder_s: list[float] = field(default_factory=list)
    tick_s: list[float] = field(default_factory=list)
    window_s: list[float] = field(default_factory=list)
    lag_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        def pct(values: list[float], q: float) -> float:
            return round(float(np.percentile(values, q)) * 1000, 1) if values else 0.0

        return {
            "ticks": self.ticks,
            "windows": self.windows,
            "batch_mean": round(self.windows / self.ticks, 1) if self.ticks else 0.0,
            "batch_max": max(self.batch_sizes, default=0),
            "tick_ms_p50": pct(self.tick_s, 50),
            "tick_ms_p95": pct(self.tick_s, 95),
            "encoder_ms_p50": pct(self.encoder_s, 50),
            "encoder_ms_p95": pct(self.encoder_s, 95),
            "decoder_ms_p50": pct(self.decoder_s, 50),
            "decoder_ms_p95": pct(self.decoder_s, 95),
            "window_s_mean": round(float(np.mean(self.window_s)), 2) if self.window_s else 0.0,
            "lag_ms_p50": pct(self.lag_s, 50),
            "lag_ms_p95": pct(self.lag_s, 95),
        }


class BatchScheduler:
    """Admission, stream state and the tick loop. Thread-safe."""

    def __init__(
        self, source: HypothesisSource, engine_name: str, max_streams: int, settings: SchedulerSettings | None = None
    ) -> None:
        self.engine_name = engine_name
        self.size = max_streams
        self.settings = settings or SchedulerSettings()
        self._source = source
        self._cond = threading.Condition()
        self._streams: dict[int, ScheduledStream] = {}
        self._next_key = 0
        self._stopped = False
        self._stats = TickStats()
        self._stats_since = time.monotonic()
        self._recent_lags: deque[tuple[float, float]] = deque()  # (when, lag_s) of the last 10 s
        self._pass_started: float | None = None  # monotonic start of the pass in flight
        self._stuck: str | None = None  # why no stream is taken now: the pass in flight outlived its deadline
        self._thread = threading.Thread(target=self._run, name="batch-scheduler", daemon=True)
        self._thread.start()
        # Its own thread: the scheduler's thread is the one a stuck engine holds.
        self._watchdog = threading.Thread(target=self._watch, name="pass-watchdog", daemon=True)
        self._watchdog.start()

    # -- the pool interface (see pool.StreamPool) ------------------------------

    @property
    def active(self) -> int:
        return len(self._streams)

    @property
    def unavailable(self) -> str | None:
        """Why the worker takes no streams now (its engine is stuck), or None."""
        with self._cond:
            return self._stuck

    @property
    def lag_ms(self) -> float:
        """p95 partial lag of the last 10 s, or longer when due streams wait now
        (or a pass in flight has run longer: its audio has waited at least that)."""
        now = time.monotonic()
        with self._cond:
            while self._recent_lags and self._recent_lags[0][0] < now - 10.0:
                self._recent_lags.popleft()
            lags = [lag for _, lag in self._recent_lags]
            # audio waiting for the model: its stream is due, or busy with an earlier pass
            waiting = [
                now - s.pending_since
                for s in self._streams.values()
                if (s.due is not None or s.in_flight) and s.pending_since is not None
            ]
            if self._pass_started is not None:
                waiting.append(now - self._pass_started)
        recent = float(np.percentile(lags, 95)) if lags else 0.0
        return round(1000 * max([recent, *waiting]), 1)

    def open(self, settings: StreamSettings) -> ScheduledStream | None:
        """A new stream, or None when `size` streams are open (RESOURCE_EXHAUSTED).
        Raises EngineStuck while the engine is stuck (UNAVAILABLE)."""
        with self._cond:
            if self._stuck is not None:
                raise EngineStuck(self._stuck)
            if self._stopped or len(self._streams) >= self.size:
                return None
            key = self._next_key
            self._next_key += 1
            stream = ScheduledStream(self, key, settings)
            self._streams[key] = stream
            return stream

    def wait_ready(self, timeout: float = 60.0) -> None:
        """The source is loaded before the scheduler is built."""

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            for stream in self._streams.values():
                stream.fail("worker stopping")
            self._streams.clear()
            self._cond.notify_all()
        self._thread.join(5.0)
        self._watchdog.join(5.0)

    def stats(self) -> dict[str, float | int]:
        """Summary of the ticks since the last call (benchmarks, tests)."""
        with self._cond:
            stats, self._stats = self._stats, TickStats()
            self._stats_since = time.monotonic()
        return stats.summary()

    # -- called by streams, under self._cond ----------------------------------

    def _release(self, key: int) -> None:
        self._streams.pop(key, None)

    # -- the tick loop --------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not any(s.due is not None for s in self._streams.values()):
                    self._cond.wait(0.5)
                    self._maybe_log_stats()
                if self._stopped:
                    return
                due = sorted((s for s in self._streams.values() if s.due is not None), key=lambda s: s.due_since)
                batch = due[: self.settings.max_batch]
                windows = [s.begin_pass() for s in batch]
                self._pass_started = time.monotonic()
            try:
                self._tick(batch, windows)
            finally:
                with self._cond:
                    started, self._pass_started = self._pass_started, None
                    if self._stuck is not None:  # the engine answered again: take streams again
                        self._stuck = None
                        stuck_s = round(time.monotonic() - started, 1) if started is not None else 0.0
                        log("engine_recovered", "info", pass_s=stuck_s)

    def _watch(self) -> None:
        """Declares the engine stuck once the pass in flight outlives pass_deadline_s."""
        deadline_s = self.settings.pass_deadline_s
        with self._cond:
            while not self._stopped:
                started = self._pass_started
                if started is None or self._stuck is not None:
                    self._cond.wait(deadline_s)  # a pass that starts now is seen within its deadline
                    continue
                left = started + deadline_s - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._declare_stuck(time.monotonic() - started)

    def _declare_stuck(self, pass_s: float) -> None:
        """Under the lock: every open stream fails (none will get a pass), new ones are refused."""
        deadline_s = self.settings.pass_deadline_s
        self._stuck = f"speech engine stuck: a pass has not returned in {pass_s:.0f} s (deadline {deadline_s:g} s)"
        log(
            "engine_stuck",
            "error",
            pass_s=round(pass_s, 1),
            deadline_s=deadline_s,
            failed_streams=len(self._streams),
        )
        for stream in self._streams.values():
            stream.fail(self._stuck, EngineStuck)
        self._cond.notify_all()  # a finish() waiting for its final pass fails now

    def _tick(self, batch: list[ScheduledStream], windows: list[Window]) -> None:
        started = time.monotonic()
        try:
            result = self._source.transcribe(windows)
            if len(result.hypotheses) != len(windows):
                raise RuntimeError(f"{len(result.hypotheses)} hypotheses for {len(windows)} windows")
        except Exception as exc:  # the model failed: these streams fail, the worker goes on
            log("batch_failed", level="error", error=repr(exc), windows=len(windows))
            with self._cond:
                for stream in batch:
                    stream.fail(f"{type(exc).__name__}: {exc}")
                self._cond.notify_all()
            return
        now = time.monotonic()
        with self._cond:
            for stream, window, words in zip(batch, windows, result.hypotheses, strict=True):
                lag = stream.end_pass(window, words, now)  # a stream closed mid-batch ignores it
                if lag is not None:
                    self._stats.lag_s.append(lag)
                    self._recent_lags.append((now, lag))
                self._stats.window_s.append(window.audio.size / SAMPLE_RATE)
            self._stats.ticks += 1
            self._stats.windows += len(windows)
            self._stats.batch_sizes.append(len(windows))
            self._stats.encoder_s.append(result.encoder_s)
            self._stats.decoder_s.append(result.decoder_s)
            self._stats.tick_s.append(now - started)
            self._maybe_log_stats()
            self._cond.notify_all()

    def _maybe_log_stats(self) -> None:
        now = time.monotonic()
        if now - self._stats_since < self.settings.stats_interval_s:
            return
        summary = self._stats.summary()
        self._stats, self._stats_since = TickStats(), now
        if summary["ticks"]:
            speaking = sum(1 for s in self._streams.values() if s.in_speech)
            log(
                "scheduler_stats",
                "info",
                active_streams=len(self._streams),
                speaking_streams=speaking,
                memory_mb=round(self._source.memory_bytes() / 2**20),
                **summary,
            )


class ScheduledStream(EngineStream):
    """One stream's audio buffer, voice activity, segment state and outbox.

    accept() and finish() run on the stream's gRPC thread; passes are applied
    by the scheduler thread; all state is guarded by the scheduler's lock.
    """

    def __init__(self, scheduler: BatchScheduler, key: int, settings: StreamSettings) -> None:
        self._scheduler = scheduler
        self._cond = scheduler._cond
        self._s = scheduler.settings
        self.key = key
        self.language = settings.language.split("-")[0].lower()
        start = settings.start_offset_samples
        self._vad = EnergyVad(start, self._s.vad)  # touched by the gRPC thread only
        # Audio: _buf[0] is absolute sample _buf_start; _len samples are valid.
        # A pass holds a view of it, so the buffer is never shifted in place:
        # dropping audio moves _win_start, compaction copies into a new array.
        self._buf = np.zeros(SAMPLE_RATE * 4, dtype=np.int16)
        self._buf_start = start
        self._len = 0
        self._win_start = start  # first sample of the next window
        self._received = start
        self._committed = start
        self._last_pass_end = start
        self.in_speech = False
        self._utt_start: int | None = None  # open utterance
        self._closed: deque[tuple[int, int]] = deque()  # ended utterances awaiting their final pass
        self._seg_start = start
        self._segment_shown = False  # a partial of the open segment was sent
        self._last_partial = ""
        self._agreement = LocalAgreement()
        self._history = ""  # finalised text, the prompt of later passes
        self._outbox: list[Event] = []
        self._pass_kind = "update"
        self._pass_pending_since: float | None = None
        self._finishing = False
        self._done = False
        self._error: str | None = None
        self._error_kind: type[EngineFailure] = EngineFailure
        self._closed_stream = False
        self.in_flight = False
        self.due: str | None = None
        self.due_since = 0.0
        self.pending_since: float | None = None  # arrival of the oldest audio no pass has seen

    # -- gRPC thread ------------------------------------------------------------

    def accept(self, pcm: bytes, offset_samples: int) -> list[Event]:
        samples = np.frombuffer(pcm, dtype=np.int16)
        vad_events = self._vad.process(samples)
        now = time.monotonic()
        with self._cond:
            self._check()
            self._append(samples)
            for event in vad_events:
                if isinstance(event, SpeechStart):
                    self._speech_start(event.offset)
                elif isinstance(event, SpeechEnd):
                    self._speech_end(event.offset)
            if self.in_speech and self.pending_since is None:
                self.pending_since = now
            self._drop_silence()
            self._update_due(now)
            return self._drain()

    def finish(self) -> list[Event]:
        deadline = time.monotonic() + self._s.finish_timeout_s
        with self._cond:
            self._check()
            self._finishing = True
            if self._utt_start is not None:
                self._close_utterance(self._received)
            self._update_due(time.monotonic())
            while not self._done:
                if self._closed_stream:  # cancelled while we waited: nothing more to deliver, no failure
                    return []
                self._check()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EngineFailure(f"no final pass within {self._s.finish_timeout_s:.0f} s")
                self._cond.wait(remaining)
            return self._drain()

    def close(self) -> None:
        with self._cond:
            if self._closed_stream:
                return
            self._closed_stream = True
            self.due = None
            self._scheduler._release(self.key)
            self._cond.notify_all()  # wake a finish() waiting on this stream (a cancel from another thread)

    # -- scheduler thread -------------------------------------------------------

    def begin_pass(self) -> Window:
        """The window of the pass now due; marks the stream in flight."""
        self.in_flight = True
        longest = int(self._s.max_window_s * SAMPLE_RATE)
        if self._closed:
            start, end = self._closed[0]
            begin = max(self._win_start, start)
            # An utterance longer than the window (only when passes fell behind) is cut.
            self._pass_kind = "final" if end - begin <= longest else "cut"
        else:
            begin, end = self._win_start, self._received
            self._pass_kind = "update"
        end = min(end, begin + longest)
        audio = self._buf[begin - self._buf_start : end - self._buf_start]
        window = Window(self.key, audio, begin, self.language, self._history[-PROMPT_CHARS:])
        self._pass_pending_since = self.pending_since
        if end >= self._received:
            self.pending_since = None
        self.due = None
        return window

    def end_pass(self, window: Window, words: list[Word], now: float) -> float | None:
        """Applies a pass's hypothesis. Returns its lag (seconds from the arrival
        of the oldest audio it covered), or None when the stream has left."""
        self.in_flight = False
        if self._closed_stream or self._error is not None:
            return None
        end = window.start + window.audio.size
        if self._pass_kind == "final":
            self._final(self._agreement.flush(words), end, speech_final=True)
            self._closed.popleft()
            self._win_start = max(self._win_start, end)
            self._seg_start = self._next_segment_start()
        elif self._pass_kind == "cut":
            self._final(self._agreement.flush(words), end, speech_final=False)
            self._win_start = self._seg_start = end
        else:
            self._partial(window, words, end)
        self._last_pass_end = max(self._last_pass_end, end)
        lag = now - self._pass_pending_since if self._pass_pending_since is not None else None
        self._drop_silence()
        self._update_due(now)
        return lag

    def fail(self, error: str, kind: type[EngineFailure] = EngineFailure) -> None:
        self._error = error
        self._error_kind = kind
        self.in_flight = False
        self.due = None

    # -- state, under the lock ----------------------------------------------------

    def _check(self) -> None:
        if self._error is not None:
            raise self._error_kind(self._error)
        if self._closed_stream:
            raise EngineFailure("stream closed")

    def _append(self, samples: npt.NDArray[np.int16]) -> None:
        needed = self._len + samples.size
        if needed > self._buf.size:
            keep = min([self._win_start, *(start for start, _ in self._closed)]) - self._buf_start
            live = self._buf[keep : self._len]
            capacity = max(self._buf.size, 2 * (live.size + samples.size))
            buf = np.empty(capacity, dtype=np.int16)
            buf[: live.size] = live
            self._buf, self._buf_start, self._len = buf, self._buf_start + keep, live.size
        self._buf[self._len : self._len + samples.size] = samples
        self._len += samples.size
        self._received += samples.size

    def _speech_start(self, offset: int) -> None:
        self.in_speech = True
        floor = self._closed[-1][1] if self._closed else self._win_start
        self._utt_start = max(floor, offset - int(self._s.preroll_s * SAMPLE_RATE))
        if not self._closed:
            self._win_start = max(self._win_start, self._utt_start)
            self._seg_start = self._win_start
            self._last_pass_end = self._win_start

    def _speech_end(self, offset: int) -> None:
        self.in_speech = False
        self._close_utterance(min(self._received, offset + int(self._s.tail_s * SAMPLE_RATE)))

    def _close_utterance(self, end: int) -> None:
        if self._utt_start is None:
            return
        self._closed.append((self._utt_start, max(end, self._utt_start)))
        self._utt_start = None
        self.in_speech = False

    def _next_segment_start(self) -> int:
        if self._closed:
            return max(self._win_start, self._closed[0][0])
        if self._utt_start is not None:
            self._win_start = max(self._win_start, self._utt_start)
        return self._win_start

    def _drop_silence(self) -> None:
        """Outside speech, keep only the pre-roll, and commit the rest now and then."""
        if self.in_flight or self._closed or self._utt_start is not None:
            return
        self._win_start = max(self._win_start, self._received - int(self._s.preroll_s * SAMPLE_RATE))
        self._seg_start = self._last_pass_end = self._win_start
        if self._win_start - self._committed >= self._s.idle_commit_s * SAMPLE_RATE:
            self._commit(self._win_start)

    def _update_due(self, now: float) -> None:
        if self.in_flight or self._closed_stream or self._error is not None:
            return
        due: str | None = None
        if self._closed:
            due = "final"
        elif self._utt_start is not None and self._received - self._last_pass_end >= self._s.update_s * SAMPLE_RATE:
            due = "update"
        if due is not None and self.due is None:
            self.due_since = now
            self._scheduler._cond.notify_all()
        self.due = due
        if due is None and self._finishing and not self._closed and self._utt_start is None:
            self._commit(self._received)
            self._done = True

    def _partial(self, window: Window, words: list[Word], end: int) -> None:
        agreement = self._agreement
        agreement.update(words)
        s = self._s
        if agreement.confirmed and agreement.confirmed[-1].end - self._seg_start >= s.trim_after_s * SAMPLE_RATE:
            confirmed = agreement.take_confirmed()
            cut = max(confirmed[-1].end, self._seg_start)
            self._final(confirmed, cut, speech_final=False)
            self._win_start = self._seg_start = cut
        elif end - window.start >= s.max_window_s * SAMPLE_RATE:
            # Nothing confirmed for max_window_s: take the hypothesis as it is.
            self._final(agreement.flush(words), end, speech_final=False)
            self._win_start = self._seg_start = end
            return
        shown = agreement.confirmed + agreement.tentative
        text = _text(shown)
        if text != self._last_partial and (text or self._segment_shown):
            stability = len(agreement.confirmed) / len(shown) if shown else 0.0
            self._outbox.append(Partial(text=text, start=self._seg_start, end=end, stability=stability))
            self._segment_shown = True
            self._last_partial = text

    def _final(self, words: list[Word], end: int, speech_final: bool) -> None:
        text = _text(words)
        if text or self._segment_shown:
            self._outbox.append(
                Final(text=text, start=self._seg_start, end=end, words=words, speech_final=speech_final)
            )
            self._committed = max(self._committed, end)
            if text:
                self._history = (self._history + " " + text).strip()[-PROMPT_CHARS:]
        else:
            self._commit(end)  # noise without words: no segment id used
        self._segment_shown = False
        self._last_partial = ""

    def _commit(self, offset: int) -> None:
        if offset > self._committed:
            self._committed = offset
            self._outbox.append(Commit(offset))

    def _drain(self) -> list[Event]:
        events, self._outbox = self._outbox, []
        return events


def _text(words: list[Word]) -> str:
    return " ".join(w.text for w in words)
