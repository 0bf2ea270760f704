"""The voice-activity gate on synthetic audio."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from parley_asr.vad import EnergyVad, SpeechEnd, SpeechStart, VadEvent

S = 16000


def noise(seconds: float, dbfs: float, seed: int = 0) -> npt.NDArray[np.int16]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * S)) * 32768 * 10 ** (dbfs / 20)).astype(np.int16)


def run(audio: npt.NDArray[np.int16], chunk: int, start: int = 0) -> list[VadEvent]:
    vad = EnergyVad(start)
    events: list[VadEvent] = []
    for i in range(0, audio.size, chunk):
        events += vad.process(audio[i : i + chunk])
    return events


def test_quiet_background_is_not_speech() -> None:
    assert run(noise(3.0, -55.0), 320) == []


def test_finds_an_utterance_in_background_noise_whatever_the_chunking() -> None:
    audio = np.concatenate([noise(1.0, -55.0, 1), noise(1.5, -20.0, 2), noise(1.0, -55.0, 3)])
    for chunk in (320, 1600, 777):
        events = run(audio, chunk, start=10 * S)
        assert events == [SpeechStart(10 * S + S), SpeechEnd(10 * S + int(2.5 * S))], chunk


def test_a_short_pause_does_not_end_the_utterance() -> None:
    audio = np.concatenate(
        [noise(0.5, -55.0), noise(1.0, -20.0), noise(0.3, -55.0), noise(1.0, -20.0), noise(0.8, -55.0)]
    )
    events = run(audio, 320)
    assert [type(e) for e in events] == [SpeechStart, SpeechEnd]
    assert events[1].offset == int(2.8 * S)
