"""Voice-activity gate for batched engines: where speech starts and ends.

A frame-energy detector against a tracked noise floor, with an onset (a few
speech frames in a row open an utterance) and a hangover (that much silence
closes it). It decides which streams the batch scheduler spends a pass on: a
silent stream (the customer listening while the AI talks) costs no model
time. It is deliberately cheap (one vectorised energy per 20 ms frame): it
runs on the gRPC threads for every chunk of every stream.

The floor learns only from frames it already calls quiet, so a background
loud enough to be speech from its first frame (a store's music or fridges,
when the browser's noise suppression leaves them) would never be learnt:
speech for ever, a pass every second and noise finalised as words. So a frame
must also stand a few dB above the quietest frame of the last 2 s: a steady
sound is its own minimum and stops counting within about 2 s, while speech
dips between words. The bridge's detector (inference-bridge/src/dialogue/
SpeechActivity.ts) follows the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FRAME = 320  # samples: 20 ms at 16 kHz
FLOOR_DB = -90.0
# The quietest frame of the last 2 s: 10 blocks of 10 frames, plus the current block.
STEADY_BLOCK_FRAMES = 10
STEADY_BLOCKS = 10


@dataclass(frozen=True)
class VadSettings:
    threshold_db: float = -50.0  # never speech below this (dBFS)
    margin_db: float = 10.0  # speech: this far above the noise floor
    steady_margin_db: float = 6.0  # speech: this far above the quietest frame of the last 2 s…
    # …up to this level: a frame this loud is speech whatever came before (a
    # voice held at the microphone is no background, and a background this
    # loud would leave no room to hear a voice over it anyway)
    voice_db: float = -24.0
    onset_frames: int = 3  # 60 ms of speech opens an utterance
    hangover_frames: int = 25  # 500 ms of silence closes it


@dataclass(frozen=True)
class SpeechStart:
    offset: int  # absolute sample of the first speech frame


@dataclass(frozen=True)
class SpeechEnd:
    offset: int  # absolute sample just after the last speech frame


VadEvent = SpeechStart | SpeechEnd


class RollingMinimum:
    """The minimum over a sliding window in constant work per value: the current
    block and the `blocks` whole blocks before it (each `block_size` values),
    so between blocks * block_size + 1 and (blocks + 1) * block_size values.
    It starts as if it had seen `initial` all along."""

    def __init__(self, block_size: int, blocks: int, initial: float) -> None:
        self._block_size = block_size
        self._block_minima = [initial] * blocks
        self._at = 0
        self._minimum_of_blocks = initial
        self._block_minimum = float("inf")
        self._block_fill = 0

    def push(self, value: float) -> float:
        """Takes the next value; returns the minimum of the window that ends with it."""
        if value < self._block_minimum:
            self._block_minimum = value
        minimum = min(self._minimum_of_blocks, self._block_minimum)
        self._block_fill += 1
        if self._block_fill == self._block_size:
            self._block_minima[self._at] = self._block_minimum
            self._at = (self._at + 1) % len(self._block_minima)
            self._minimum_of_blocks = min(self._block_minima)
            self._block_minimum = float("inf")
            self._block_fill = 0
        return minimum


class EnergyVad:
    """Frame energy against an adaptive noise floor, for one stream."""

    def __init__(self, start_offset: int, settings: VadSettings | None = None) -> None:
        self.settings = settings or VadSettings()
        self.in_speech = False
        self._next = start_offset  # absolute offset of the next frame's first sample
        self._carry = np.zeros(0, dtype=np.int16)  # an incomplete frame
        self._noise_db = -60.0
        self._quietest = RollingMinimum(STEADY_BLOCK_FRAMES, STEADY_BLOCKS, FLOOR_DB)  # a stream starts silent
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
            steady_db = min(self._quietest.push(energy) + s.steady_margin_db, s.voice_db)
            speech = energy > max(s.threshold_db, self._noise_db + s.margin_db, steady_db)
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
