"""Protocol state of one Recognize stream: request checks, and engine events
turned into responses (segment ids, acks, latency echoes)."""

from __future__ import annotations

from collections import deque

from .engine import Commit, Event, Final, Partial, StreamSettings
from .gen import asr_pb2 as pb

SAMPLE_RATE = 16000


class ProtocolError(Exception):
    """The client broke the contract: the stream ends with INVALID_ARGUMENT."""


def _ms(samples: int) -> int:
    return samples * 1000 // SAMPLE_RATE


def pick_language(requested: str, supported: tuple[str, ...]) -> str:
    """Empty means the worker's default; otherwise the same primary language
    ("en-GB" is served by the en-US model)."""
    if not requested:
        return supported[0]
    primary = requested.split("-")[0].lower()
    for language in supported:
        if language.split("-")[0].lower() == primary:
            return language
    raise ProtocolError(f"language {requested!r} is not supported by this worker ({', '.join(supported)})")


class Session:
    def __init__(self, config: pb.StreamConfig, engine_name: str, languages: tuple[str, ...], worker_id: str):
        if config.sample_rate_hz not in (0, SAMPLE_RATE):  # 0: unset, the protocol's 16 kHz
            raise ProtocolError(f"sample_rate_hz must be {SAMPLE_RATE}, got {config.sample_rate_hz}")
        self.language = pick_language(config.language, languages)
        self.settings = StreamSettings(
            session_id=config.session_id,
            sample_rate_hz=SAMPLE_RATE,
            language=self.language,
            start_offset_samples=config.start_offset_samples,
            hints=tuple(config.hints),
        )
        self._engine_name, self._worker_id = engine_name, worker_id
        self.next_offset = config.start_offset_samples  # where the next chunk must start
        self.segment_id = config.first_segment_id  # id of the open (or next) utterance
        self.finals = 0
        # (end offset, captured_at_ms) of chunks not yet behind every result.
        self._captures: deque[tuple[int, float]] = deque()
        self._last_capture = 0.0

    def ready(self) -> pb.RecognizeResponse:
        return pb.RecognizeResponse(
            ready=pb.StreamReady(engine=self._engine_name, language=self.language, worker_id=self._worker_id)
        )

    def take_audio(self, chunk: pb.AudioChunk) -> None:
        """Check that the chunk continues the stream exactly, and note its capture time."""
        if chunk.offset_samples != self.next_offset:
            kind = "gap" if chunk.offset_samples > self.next_offset else "overlap"
            raise ProtocolError(
                f"audio chunk offset_samples={chunk.offset_samples} but expected {self.next_offset} "
                f"({kind} of {abs(chunk.offset_samples - self.next_offset)} samples)"
            )
        if len(chunk.pcm) % 2:
            raise ProtocolError(f"pcm must be s16le: odd length {len(chunk.pcm)} at offset {chunk.offset_samples}")
        self.next_offset += len(chunk.pcm) // 2
        self._captures.append((self.next_offset, chunk.captured_at_ms))

    def responses(self, events: list[Event]) -> list[pb.RecognizeResponse]:
        out: list[pb.RecognizeResponse] = []
        for event in events:
            if isinstance(event, Partial):
                out.append(self._segment(event, is_final=False, speech_final=False, stability=event.stability))
            elif isinstance(event, Final):
                out.append(self._segment(event, is_final=True, speech_final=event.speech_final, stability=1.0))
                if event.speech_final:
                    out.append(
                        pb.RecognizeResponse(
                            utterance_end=pb.UtteranceEnd(last_segment_id=self.segment_id, end_ms=_ms(event.end))
                        )
                    )
                out.append(pb.RecognizeResponse(ack=pb.AudioAck(committed_offset_samples=event.end)))
                self.segment_id += 1
                self.finals += 1
            elif isinstance(event, Commit):
                out.append(pb.RecognizeResponse(ack=pb.AudioAck(committed_offset_samples=event.offset)))
                # Silence yields only commits: forget the chunks behind the ack
                # here too, or a listening stream keeps one entry per chunk.
                self._forget_captures(event.offset)
        return out

    def _segment(
        self, event: Partial | Final, is_final: bool, speech_final: bool, stability: float
    ) -> pb.RecognizeResponse:
        words = [
            pb.Word(text=w.text, start_ms=_ms(w.start), end_ms=_ms(w.end), confidence=w.confidence)
            for w in (event.words if isinstance(event, Final) else ())
        ]
        return pb.RecognizeResponse(
            segment=pb.Segment(
                segment_id=self.segment_id,
                is_final=is_final,
                speech_final=speech_final,
                text=event.text,
                words=words,
                start_ms=_ms(event.start),
                end_ms=_ms(event.end),
                stability=stability,
                audio_offset_samples=self.next_offset,
                captured_at_ms=self._captured_at(event.end),
                language=self.language,
            )
        )

    def _captured_at(self, end: int) -> float:
        """Capture time of the chunk holding the result's last sample."""
        self._forget_captures(end)
        if self._captures:
            return self._captures[0][1]
        return self._last_capture

    def _forget_captures(self, end: int) -> None:
        """Drop the chunks that end before `end` (no later result reaches back
        there), keeping the last one's capture time as the fallback."""
        while self._captures and self._captures[0][0] < end:
            self._last_capture = self._captures.popleft()[1]
