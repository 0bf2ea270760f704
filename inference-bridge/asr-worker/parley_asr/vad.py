"""Voice-activity gate for batched engines: where speech starts and ends.

A frame-energy detector against a tracked noise floor, with an onset (a few
speech frames in a row open an utterance) and a hangover (that much silence
closes it). It decides which streams the batch scheduler spends a pass on: a
silent stream (the customer listening while the AI talks) costs no model
time. It is deliberately cheap (one vectorised energy per 20 ms frame): it
runs on the gRPC threads for every chunk of every stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FRAME = 320  # samples: 20 ms at 16 kHz
FLOOR_DB = -90.0


@dataclass(frozen=True)
class VadSettings:
    threshold_db: float = -50.0  # never speech below this (dBFS)
    margin_db: float = 10.0  # speech: this far above the noise floor
    onset_frames: int = 3  # 60 ms of speech opens an utterance
    hangover_frames: int = 25  # 500 ms of silence closes it


@dataclass(frozen=True)
class SpeechStart:
    offset: int  # absolute sample of the first speech frame


@dataclass(frozen=True)
class SpeechEnd:
    offset: int  # absolute sample just after the last speech frame


VadEvent = SpeechStart | SpeechEnd


class EnergyVad:
    """Frame energy against an adaptive noise floor, for one stream."""

    def __init__(self, start_offset: int, settings: VadSettings | None = None) -> None:
        self.settings = settings or VadSettings()
        self.in_speech = False
        self._next = start_offset  # absolute offset of the next frame's first sample
        self._carry = np.zeros(0, dtype=np.int16)  # an incomplete frame
        self._noise_db = -60.0
        self._run = 0  # consecutive frames contradicting the current state
        self._run_start = start_offset

    def process(self, pcm: npt.NDArray[np.int16]) -> list[VadEvent]:
        """Consumes the next samples (contiguous with the previous call)."""
        if self._carry.size:
            pcm = np.concatenate((self._carry, pcm))
        frames = pcm.size // FRAME
        self._carry = pcm[frames * FRAME :].copy()
        if frames == 0:
            return []
        x = pcm[: frames * FRAME].astype(np.float32).reshape(frames, FRAME) * (1.0 / 32768.0)
        energies = 10.0 * np.log10(np.einsum("ij,ij->i", x, x) / FRAME + 1e-9)
        events: list[VadEvent] = []
        s = self.settings
        for energy in energies.tolist():
            speech = energy > max(s.threshold_db, self._noise_db + s.margin_db)
            if not speech:
                # The floor follows quiet frames: down at once, up slowly.
                self._noise_db = energy if energy < self._noise_db else 0.98 * self._noise_db + 0.02 * energy
                self._noise_db = max(self._noise_db, FLOOR_DB)
            if speech != self.in_speech:
                if self._run == 0:
                    self._run_start = self._next
                self._run += 1
                if self._run >= (s.hangover_frames if self.in_speech else s.onset_frames):
                    self.in_speech = speech
                    self._run = 0
                    events.append(SpeechStart(self._run_start) if speech else SpeechEnd(self._run_start))
            else:
                self._run = 0
            self._next += FRAME
        return events

    @property
    def pending_end(self) -> int | None:
        """In speech but already in a silent run: where the speech would end."""
        return self._run_start if self.in_speech and self._run else None
