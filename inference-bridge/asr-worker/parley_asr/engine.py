"""Engine interface: what the gRPC layer needs from a recogniser.

Engines work in absolute sample offsets (the conversation clock); the session
layer turns their events into protocol messages (segment ids, acks, latency
echoes). Events must be picklable: streams may run in worker processes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .pool import StreamPool


@dataclass(frozen=True)
class StreamSettings:
    session_id: str
    sample_rate_hz: int
    language: str
    start_offset_samples: int
    hints: tuple[str, ...] = ()


@dataclass
class Word:
    text: str
    start: int  # absolute samples
    end: int
    confidence: float = 0.0


@dataclass
class Partial:
    """Interim text of the open utterance; may still change."""

    text: str
    start: int  # utterance start, absolute samples
    end: int  # end of the audio decoded so far
    stability: float


@dataclass
class Final:
    """The open utterance is closed; its audio up to `end` is accounted for."""

    text: str
    start: int
    end: int
    words: list[Word] = field(default_factory=list)
    speech_final: bool = True  # False when cut for length, not at a pause


@dataclass
class Commit:
    """Audio before `offset` holds no speech: the client may forget it."""

    offset: int


Event = Partial | Final | Commit


class EngineStream:
    """Recognition state of one audio stream."""

    def accept(self, pcm: bytes, offset_samples: int) -> list[Event]:
        """Consume s16le mono audio starting at absolute `offset_samples`."""
        raise NotImplementedError

    def finish(self) -> list[Event]:
        """End of audio: finalise the open utterance."""
        raise NotImplementedError

    def close(self) -> None:
        """Drop the stream (cancelled or finished); must be idempotent."""


class Engine:
    name = "engine"
    languages: tuple[str, ...] = ()
    # False: a process per stream (workers.ProcessPool). True: the worker's
    # streams share one process and one batch scheduler (open_batched).
    batched = False

    @classmethod
    def open_batched(cls, max_streams: int | None, options: dict[str, str]) -> StreamPool:
        raise NotImplementedError(f"{cls.name} runs a process per stream")

    def warm_up(self) -> None:
        """Load models now rather than on the first stream."""

    def prepare_next(self) -> None:
        """Idle time after a stream: get ready for the next one (called by the
        engine process once the stream's last reply has gone out)."""

    def new_stream(self, settings: StreamSettings) -> EngineStream:
        raise NotImplementedError

    def decode_whole(self, pcm: bytes) -> str:
        """Offline reference: one pass over a whole recording, same configuration."""
        raise NotImplementedError


# Engines by --engine name, imported lazily so that only the worker processes
# load the heavy libraries.
ENGINES = {
    "pocketsphinx": "parley_asr.pocketsphinx_engine:PocketsphinxEngine",
    "whisper": "parley_asr.whisper.engine:WhisperEngine",
}


def engine_class(name: str) -> type[Engine]:
    module, _, attribute = ENGINES[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise TypeError(f"{ENGINES[name]} is not an Engine")
    return cls
