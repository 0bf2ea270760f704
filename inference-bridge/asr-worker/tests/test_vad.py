"""The voice-activity gate on synthetic audio."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from parley_asr.vad import EnergyVad, RollingMinimum, SpeechEnd, SpeechStart, VadEvent

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


# Regression: the floor learnt only from frames already called quiet, so a
# background at -50 dBFS or louder (a store's music or fridges that the
# browser's noise suppression leaves) was speech for ever: a pass every second,
# no utterance ever ended, and the noise finalised as hallucinated words.

ADAPT_S = 3.0  # how long the start of a steady background may pass for speech
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
RECORDINGS = sorted(p.name for p in LIBRIVOX.glob("*.wav"))
SPEECH_DBFS = -20.0  # a customer at the microphone, after the browser's gain control


def background(seconds: float, dbfs: float, colour: str, seed: int) -> npt.NDArray[np.int16]:
    """Steady noise whose RMS is `dbfs`: white, or pink as a store's hum and wash
    is; high-passed at 60 Hz as the browser's capture is."""
    n = int(seconds * S)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / S)
    if colour == "pink":
        spectrum[1:] /= np.sqrt(f[1:])
    spectrum[f < 60] = 0
    return at_level(np.fft.irfft(spectrum, n), dbfs)


def at_level(x: npt.NDArray[np.floating] | npt.NDArray[np.int16], dbfs: float) -> npt.NDArray[np.int16]:
    x = x.astype(np.float64)
    x *= 32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(x**2))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def recording(name: str) -> npt.NDArray[np.int16]:
    with wave.open(str(LIBRIVOX / name)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (S, 1, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def voice_runs(pcm: npt.NDArray[np.int16], dbfs: float, frames: int = 3) -> tuple[int, int]:
    """The start of the first run of `frames` 20 ms frames at `dbfs` or louder,
    and the end of the last (samples)."""
    n = pcm.size // 320
    x = pcm[: n * 320].astype(np.float64).reshape(n, 320) / 32768
    loud = 10 * np.log10(np.mean(x**2, axis=1) + 1e-12) >= dbfs
    ends = [i + 1 for i in range(frames - 1, n) if loud[i - frames + 1 : i + 1].all()]
    assert ends, "no voice that loud"
    return (ends[0] - frames) * 320, ends[-1] * 320


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("dbfs", [-50.0, -45.0, -40.0, -35.0, -30.0])
def test_steady_noise_alone_is_no_speech_after_the_first_seconds(colour: str, dbfs: float) -> None:
    vad = EnergyVad(0)
    audio = background(15.0, dbfs, colour, seed=11)
    events: list[VadEvent] = []
    for i in range(0, audio.size, 320):
        events += vad.process(audio[i : i + 320])
        if i >= ADAPT_S * S:
            assert not vad.in_speech, f"still speech at {i / S:.2f} s"
    assert [e for e in events if e.offset > ADAPT_S * S] == []


def run_into(vad: EnergyVad, audio: npt.NDArray[np.int16]) -> list[VadEvent]:
    events: list[VadEvent] = []
    for i in range(0, audio.size, 320):
        events += vad.process(audio[i : i + 320])
    return events


def hear(name: str, colour: str, dbfs: float) -> tuple[list[VadEvent], EnergyVad, tuple[int, int], tuple[int, int]]:
    """The recording at SPEECH_DBFS after 4 s of noise and 3 s more of it: the
    events after ADAPT_S, the detector, where its voice is audible (-40 dBFS)
    and where it stands the detector's margin above the noise for an onset's
    length (all on the line's clock)."""
    voice = at_level(recording(name), SPEECH_DBFS)
    lead = 4 * S
    line = background(4.0 + voice.size / S + 3.0, dbfs, colour, seed=5).astype(np.int32)
    line[lead : lead + voice.size] += voice
    vad = EnergyVad(0)
    events = run_into(vad, np.clip(line, -32768, 32767).astype(np.int16))
    audible = voice_runs(voice, -40.0, frames=1)
    clear = voice_runs(voice, dbfs + 12)
    return (
        [e for e in events if e.offset > ADAPT_S * S],
        vad,
        (lead + audible[0], lead + audible[1]),
        (lead + clear[0], lead + clear[1]),
    )


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("dbfs", [-45.0, -35.0])
@pytest.mark.parametrize("name", RECORDINGS)
def test_hears_speech_over_steady_noise_from_its_start_to_its_end(name: str, colour: str, dbfs: float) -> None:
    events, vad, audible, clear = hear(name, colour, dbfs)
    assert events and isinstance(events[0], SpeechStart) and isinstance(events[-1], SpeechEnd), events
    assert audible[0] <= events[0].offset <= clear[0] + 3 * 320  # nothing before the voice, its onset heard
    assert not vad.in_speech  # the noise after it is not speech
    assert clear[1] - S // 4 < events[-1].offset <= audible[1]  # heard to its end, not past it


# 10 dB under the voice, what the floor learns in the pauses climbs into the
# softer words (as it always did): only the start and an end are sure.
@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("name", RECORDINGS)
def test_finds_where_speech_over_loud_noise_starts_and_that_it_ends(name: str, colour: str) -> None:
    events, vad, audible, clear = hear(name, colour, -30.0)
    assert events and isinstance(events[0], SpeechStart) and isinstance(events[-1], SpeechEnd), events
    assert audible[0] <= events[0].offset <= clear[0] + 3 * 320
    assert not vad.in_speech
    assert events[0].offset < events[-1].offset <= audible[1]


def test_the_rolling_minimum_is_that_of_the_current_block_and_the_whole_blocks_before_it() -> None:
    block_size, blocks = 4, 3
    minimum = RollingMinimum(block_size, blocks, 50.0)
    values = np.random.default_rng(7).integers(0, 100, 200).tolist()
    for i, value in enumerate(values):
        start = i // block_size * block_size - blocks * block_size
        window = values[max(0, start) : i + 1] + ([50] if start < 0 else [])  # `initial` before the first
        assert minimum.push(float(value)) == min(window), i
