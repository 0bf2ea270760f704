"""Session bookkeeping: capture times of the chunks behind each result."""

from __future__ import annotations

from parley_asr.engine import Commit, Final, Word
from parley_asr.gen import asr_pb2 as pb
from parley_asr.session import Session

CHUNK = 320  # samples: 20 ms


def test_silence_acks_keep_the_capture_times_bounded() -> None:
    session = Session(pb.StreamConfig(session_id="s"), "scripted", ("en-US",), "w")

    def chunk(i: int) -> None:
        pcm = b"\0\0" * CHUNK
        session.take_audio(pb.AudioChunk(offset_samples=i * CHUNK, pcm=pcm, captured_at_ms=1000.0 + 20 * i))

    for i in range(1000):  # 20 s of silence, acked two chunks behind the audio
        chunk(i)
        session.responses([Commit(max(0, (i - 1) * CHUNK))])
        assert len(session._captures) <= 3
    for i in range(1000, 1005):  # then speech
        chunk(i)
    end = 1003 * CHUNK + 100  # the segment's last sample lies in chunk 1003
    (segment, *_) = session.responses([Final("hi", 1000 * CHUNK, end, [Word("hi", 1000 * CHUNK, end)])])
    assert segment.segment.captured_at_ms == 1000.0 + 20 * 1003
