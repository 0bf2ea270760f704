"""The batch scheduler driven by a scripted source of hypotheses (no model)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
import pytest

from parley_asr.engine import Commit, Event, Final, Partial, StreamSettings, Word
from parley_asr.scheduler import BatchResult, BatchScheduler, ScheduledStream, SchedulerSettings, Window
from parley_asr.workers import EngineFailure

S = 16000
CHUNK = 320


def speech(seconds: float, seed: int = 0) -> npt.NDArray[np.int16]:
    return (np.random.default_rng(seed).standard_normal(int(seconds * S)) * 3000).astype(np.int16)


def silence(seconds: float) -> npt.NDArray[np.int16]:
    return np.zeros(int(seconds * S), dtype=np.int16)


def word_every_half_second(window: Window) -> list[Word]:
    """A stable 'model': one word per half second of audio, named by its absolute time."""
    first = -(-window.start // (S // 2))
    end = window.start + window.audio.size
    return [
        Word(f"w{k}", k * S // 2, k * S // 2 + S // 4)
        for k in range(first, end // (S // 2))
        if k * S // 2 + S // 4 <= end
    ]


class ScriptedSource:
    """Answers each window with `script(window)`; records batches; can be held."""

    def __init__(self, script: Callable[[Window], list[Word]] = word_every_half_second) -> None:
        self.script = script
        self.batches: list[list[Window]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.error: Exception | None = None

    def transcribe(self, windows: Sequence[Window]) -> BatchResult:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(list(windows))
        if self.error is not None:
            raise self.error
        return BatchResult([self.script(w) for w in windows], encoder_s=0.001, decoder_s=0.002)

    def memory_bytes(self) -> int:
        return 0


@pytest.fixture
def source() -> ScriptedSource:
    return ScriptedSource()


@pytest.fixture
def scheduler(source: ScriptedSource) -> object:
    sched = BatchScheduler(source, "scripted", max_streams=4, settings=SchedulerSettings(finish_timeout_s=10))
    yield sched
    sched.close()


def open_stream(sched: BatchScheduler, start: int = 0, language: str = "en") -> ScheduledStream:
    stream = sched.open(StreamSettings("s", S, language, start))
    assert stream is not None
    return stream


def feed(stream: ScheduledStream, audio: npt.NDArray[np.int16], offset: int, settled: bool = False) -> list[Event]:
    """Hands `audio` to the stream a chunk at a time. `settled`: after each chunk, waits for
    the pass it made due to be applied, so which passes run does not depend on how soon the
    scheduler thread gets the CPU (a live stream's audio arrives in real time, far slower)."""
    events: list[Event] = []
    for i in range(0, audio.size, CHUNK):
        events += stream.accept(audio[i : i + CHUNK].tobytes(), offset + i)
        if settled:
            with stream._cond:
                assert stream._cond.wait_for(lambda: stream.due is None and not stream.in_flight, timeout=10), (
                    "the scheduler did not apply the pass in time"
                )
    return events


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_partials_then_a_final_with_words_and_acks_on_the_conversation_clock(
    scheduler: BatchScheduler, source: ScriptedSource
) -> None:
    origin = 60 * S
    stream = open_stream(scheduler, start=origin)
    audio = np.concatenate([silence(0.5), speech(3.0), silence(1.0)])
    events = feed(stream, audio, origin, settled=True)
    events += stream.finish()
    partials = [e for e in events if isinstance(e, Partial)]
    finals = [e for e in events if isinstance(e, Final)]
    assert partials and len(finals) == 1
    final = finals[0]
    assert final.speech_final
    # words of the utterance (speech from 60.5 s to 63.5 s), none from the silence before
    assert final.words and all(origin + S // 2 - S // 5 <= w.start < origin + int(3.7 * S) for w in final.words)
    assert final.text == " ".join(w.text for w in final.words)
    assert all(p.start == final.start for p in partials)
    # a silent stream's audio is committed; the last ack covers all audio
    commits = [e.offset for e in events if isinstance(e, Commit)]
    assert commits[-1] == origin + audio.size
    # windows were cut to the audio held: never the 30 s Whisper pads to
    assert max(w.audio.size for b in source.batches for w in b) < 4 * S


def test_trims_the_buffer_behind_confirmed_words(scheduler: BatchScheduler, source: ScriptedSource) -> None:
    stream = open_stream(scheduler)
    events = feed(stream, speech(12.0), 0, settled=True)
    events += stream.finish()
    cuts = [e for e in events if isinstance(e, Final) and not e.speech_final]
    assert cuts, "confirmed words spanning trim_after_s end in a final with speech_final=false"
    first_cut = cuts[0].end
    assert cuts[0].words and cuts[0].words[-1].end == first_cut
    later = [w for b in source.batches for w in b if w.start >= first_cut]
    assert later, "later passes start at the trim point"
    assert max(w.audio.size for b in source.batches for w in b) < 8 * S
    # no word is finalised twice, none lost: the finals' words follow each other
    finals = [e for e in events if isinstance(e, Final)]
    all_words = [w.text for f in finals for w in f.words]
    assert len(all_words) == len(set(all_words))
    assert all_words == [f"w{k}" for k in range(int(all_words[0][1:]), int(all_words[0][1:]) + len(all_words))]


def test_silent_streams_cost_no_pass(scheduler: BatchScheduler, source: ScriptedSource) -> None:
    quiet, talking = open_stream(scheduler), open_stream(scheduler)
    quiet_events = feed(quiet, silence(3.0), 0)
    feed(talking, speech(3.0), 0)
    quiet_events += quiet.finish()
    talking.finish()
    keys = {w.key for b in source.batches for w in b}
    assert keys == {talking.key}
    assert [e for e in quiet_events if not isinstance(e, Commit)] == []
    assert quiet_events[-1] == Commit(3 * S)


def test_a_stream_joining_and_one_leaving_mid_batch(scheduler: BatchScheduler, source: ScriptedSource) -> None:
    leaving = open_stream(scheduler)
    source.gate.clear()
    feed(leaving, speech(1.5), 0)
    assert source.entered.wait(5), "the first batch started"
    joining = open_stream(scheduler)  # joins while the batch runs
    feed(joining, speech(1.5, seed=1), 0)
    leaving.close()  # leaves while its pass is in flight
    source.gate.set()
    events = joining.finish()
    assert any(isinstance(e, Final) for e in events)
    assert source.batches[0][0].key == leaving.key
    assert all(w.key == joining.key for b in source.batches[1:] for w in b)
    assert scheduler.active == 1
    with pytest.raises(EngineFailure):
        leaving.accept(speech(0.1).tobytes(), int(1.5 * S))


def test_a_slow_batch_delays_but_loses_nothing(scheduler: BatchScheduler, source: ScriptedSource) -> None:
    stream = open_stream(scheduler)
    source.gate.clear()
    feed(stream, speech(1.2), 0)
    assert source.entered.wait(5)
    feed(stream, speech(2.0, seed=2), int(1.2 * S))  # arrives while the model is busy
    assert stream.in_flight and stream.pending_since is not None
    time.sleep(0.2)
    assert scheduler.lag_ms >= 200, "a due stream waiting for the model shows as lag"
    source.gate.set()
    wait_for(lambda: len(source.batches) >= 2)
    second = source.batches[1][0]
    assert second.start == 0 and second.start + second.audio.size == int(3.2 * S)
    events = stream.finish()
    assert any(isinstance(e, Final) for e in events)
    assert scheduler.stats()["lag_ms_p95"] >= 200


def test_batches_many_streams_into_one_pass(source: ScriptedSource) -> None:
    sched = BatchScheduler(source, "scripted", max_streams=8, settings=SchedulerSettings(max_batch=8))
    try:
        source.gate.clear()
        streams = [open_stream(sched) for _ in range(6)]
        feed(streams[0], speech(1.1), 0)
        assert source.entered.wait(5)
        for s in streams[1:]:
            feed(s, speech(1.1, seed=3), 0)
        source.gate.set()
        wait_for(lambda: len(source.batches) >= 2)
        assert len(source.batches[1]) == 5, "the streams that became due during a pass share the next one"
    finally:
        sched.close()


def test_admission_bound(source: ScriptedSource) -> None:
    sched = BatchScheduler(source, "scripted", max_streams=2)
    try:
        a, b = open_stream(sched), open_stream(sched)
        assert sched.open(StreamSettings("c", S, "en", 0)) is None
        a.close()
        a.close()  # idempotent
        assert sched.open(StreamSettings("c", S, "en", 0)) is not None
        b.close()
    finally:
        sched.close()


def test_a_failing_model_fails_its_streams_not_the_worker(scheduler: BatchScheduler, source: ScriptedSource) -> None:
    stream = open_stream(scheduler)
    source.error = RuntimeError("out of memory")
    feed(stream, speech(1.2), 0)
    wait_for(lambda: len(source.batches) >= 1)
    with pytest.raises(EngineFailure, match="out of memory"):
        wait_for(lambda: bool(stream.accept(speech(0.02).tobytes(), int(1.2 * S))) and False, timeout=5)
    source.error = None
    other = open_stream(scheduler)
    feed(other, speech(1.5), 0)
    assert any(isinstance(e, Final) for e in other.finish())


def test_close_wakes_a_waiting_finish(scheduler: BatchScheduler, source: ScriptedSource) -> None:
    stream = open_stream(scheduler)
    source.gate.clear()  # the final pass stays in flight: finish() waits for it
    feed(stream, speech(1.2), 0)
    assert source.entered.wait(5)
    returned = threading.Event()
    outcome: list[object] = []

    def finishing() -> None:
        try:
            outcome.append(stream.finish())
        except EngineFailure as exc:
            outcome.append(exc)
        returned.set()

    thread = threading.Thread(target=finishing, daemon=True)
    thread.start()
    try:
        wait_for(lambda: stream._finishing)
        stream.close()  # the client cancelled (from another thread)
        assert returned.wait(5), "close() did not wake finish()"
        assert outcome == [[]], "a cancelled stream's finish() is no failure"
    finally:
        source.gate.set()
        thread.join(5)
