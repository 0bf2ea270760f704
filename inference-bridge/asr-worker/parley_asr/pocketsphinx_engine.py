"""PocketSphinx 5 engine: endpointer-segmented live decoding with partials.

Audio flows: 20 ms chunks -> 30 ms endpointer frames -> speech frames (the
endpointer drops silence and lags by its window) -> batched to ~100 ms for
process_raw, after which hyp() gives a partial. When the endpointer reports
the end of speech the utterance is closed with end_utt() and its best path
becomes the final, with word timings from seg().
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import pocketsphinx
from pocketsphinx import Decoder, Endpointer

from .engine import Commit, Engine, EngineStream, Event, Final, Partial, StreamSettings, Word

SAMPLE_RATE = 16000
FRAME_SAMPLES = SAMPLE_RATE // 100  # pocketsphinx's 10 ms feature frame (frate 100)

_ALT_PRON = re.compile(r"\(\d+\)$")  # "been(2)": alternate pronunciation marker


@dataclass(frozen=True)
class Options:
    # Endpointer: 0.3 s window, 90% of it voiced to open / unvoiced to close an
    # utterance (pocketsphinx's own defaults, which do not cut inside words).
    vad_mode: int = pocketsphinx.Vad.LOOSE
    ep_window: float = 0.3
    ep_ratio: float = 0.9
    # Decode in ~100 ms batches: smaller ones only add hyp() calls.
    decode_ms: int = 100
    # Audio kept in front of the endpointer's speech start: it trims soft
    # word onsets ("he ...") and the decoder wants a little silence first.
    preroll_ms: int = 200
    # Cut (is_final without speech_final) utterances that never pause, so that
    # audio gets committed and the lattice stays small.
    max_utterance_s: float = 20.0
    # In long silences, commit audio every so often so the client can drop it.
    idle_commit_s: float = 5.0


# Where live cepstral mean normalisation starts, with the weight of 5 s of
# speech (pocketsphinx's CMN window); it then follows the speaker from one
# utterance to the next. The model's generic cmninit (40,3,-1) costs accuracy
# until CMN has adapted; measuring the mean on a stream's first 0.5 s of speech
# (a full-utterance block, the earlier design) helped on clean recordings but
# failed on Opus audio after a pause. This is the mean pocketsphinx reaches on
# ordinary read speech: flite's slt voice reading "The North Wind and the Sun"
# (measure_cmn.py). WER, one fresh decoder per stream, librivox raw / after
# Opus (5 files x 8) / through Chromium / cards: this 0.338 / 0.359 / 0.310 /
# 0.048; the 0.5 s measurement 0.324 / 0.558 / 0.366 / 0.190; the model's
# cmninit 0.394 / 0.343 / 0.338 / 0.429.
INITIAL_CMN = "55.30,4.83,16.11,16.26,1.94,0.09,-0.12,-2.59,-0.18,4.67,-0.58,7.74,7.35"


def new_decoder() -> Decoder:
    """The one decoder configuration, shared by streaming and offline. A
    stream's decoder switches to live CMN, starting from INITIAL_CMN; the
    offline pass (one full-utterance block) normalises with the recording's
    own mean (the model's batch CMN)."""
    # The bundled en-us model with its feat.params; logging off (pocketsphinx's
    # log lines are not JSON).
    return Decoder(loglevel="FATAL", cmninit=INITIAL_CMN)


def words_from_seg(decoder: Decoder, origin: int) -> list[Word]:
    words: list[Word] = []
    for seg in decoder.seg():
        if seg.word.startswith(("<", "[")):  # <s> </s> <sil> [NOISE] [SPEECH]
            continue
        words.append(
            Word(
                text=_ALT_PRON.sub("", seg.word),
                start=origin + seg.start_frame * FRAME_SAMPLES,
                end=origin + (seg.end_frame + 1) * FRAME_SAMPLES,
                confidence=min(max(float(seg.prob), 0.0), 1.0),  # posterior, already exp()'d
            )
        )
    return words


def stability(previous: list[str], current: list[str]) -> float:
    """Share of the current words that the previous hypothesis already had."""
    if not current:
        return 0.0
    same = 0
    for a, b in zip(previous, current, strict=False):  # lengths differ: compare the common prefix
        if a != b:
            break
        same += 1
    return same / len(current)


class _Utterance:
    def __init__(self, start: int) -> None:
        self.start = start  # absolute sample offset
        self.fed = 0  # samples given to the decoder
        self.pending = bytearray()  # speech not yet given to the decoder
        self.words: list[str] = []  # last partial's words
        self.reported = False  # a partial went out: a final must replace it


class PocketsphinxStream(EngineStream):
    def __init__(self, decoder: Decoder, options: Options, settings: StreamSettings) -> None:
        self._dec, self._opts = decoder, options
        opts = options
        self._ep = Endpointer(
            window=opts.ep_window, ratio=opts.ep_ratio, vad_mode=opts.vad_mode, sample_rate=SAMPLE_RATE
        )
        self._origin = settings.start_offset_samples
        self._frame = bytearray()  # input not yet a whole endpointer frame
        # Latest input (ending at the endpointer's position), for the preroll:
        # speech starts at most one window (plus a frame) behind that position.
        self._recent = bytearray()
        self._recent_keep = 2 * int((opts.ep_window + opts.preroll_ms / 1000 + 0.1) * SAMPLE_RATE)
        self._received = 0  # samples pushed into the endpointer
        self._committed = self._origin
        self._utt: _Utterance | None = None
        self._resume_at: int | None = None  # start of the next utterance after a length cut

    # -- EngineStream -----------------------------------------------------

    def accept(self, pcm: bytes, offset_samples: int) -> list[Event]:
        events: list[Event] = []
        self._frame += pcm
        size = self._ep.frame_bytes
        whole = len(self._frame) // size * size
        for i in range(0, whole, size):
            frame = bytes(self._frame[i : i + size])
            self._remember(frame)
            self._on_speech(self._ep.process(frame), events)
        del self._frame[:whole]
        self._idle_commit(events)
        return events

    def finish(self) -> list[Event]:
        events: list[Event] = []
        # end_stream flushes the endpointer's window; it rejects an empty
        # frame, so pad with one silent sample and drop it again.
        padded = not self._frame
        tail = b"\0\0" if padded else bytes(self._frame)
        self._remember(bytes(self._frame))
        self._frame.clear()
        speech = self._ep.end_stream(tail)
        if padded and speech is not None:
            speech = speech[:-2] or None
        self._on_speech(speech, events)
        if self._utt is not None:
            self._close_utterance(self._utt, events, speech_final=True)
        end = self._origin + self._received
        if end > self._committed:
            events.append(Commit(end))  # everything received is accounted for
        self.close()
        return events

    def close(self) -> None:
        # The decoder is not reused (see PocketsphinxEngine): nothing to reset.
        self._utt = None

    # -- internals ----------------------------------------------------------

    def _on_speech(self, speech: bytes | None, events: list[Event]) -> None:
        if speech is None:
            if not self._ep.in_speech:
                self._resume_at = None
            return
        utt = self._utt or self._open_utterance()
        utt.pending += speech
        if not self._ep.in_speech:
            self._close_utterance(utt, events, speech_final=True)
        elif len(utt.pending) >= self._batch_bytes:
            self._decode(utt, events)
            if utt.fed >= self._opts.max_utterance_s * SAMPLE_RATE:
                self._close_utterance(utt, events, speech_final=False)
                self._resume_at = utt.start + utt.fed

    def _remember(self, pcm: bytes) -> None:
        self._received += len(pcm) // 2
        self._recent += pcm
        del self._recent[: -self._recent_keep]

    def _open_utterance(self) -> _Utterance:
        if self._resume_at is not None:  # continues an utterance cut for length
            utt = _Utterance(self._resume_at)
        else:
            start = self._origin + round(self._ep.speech_start * SAMPLE_RATE)
            # Preroll, but never audio that an earlier utterance already used.
            recent_start = self._origin + self._received - len(self._recent) // 2
            pre_start = max(start - self._opts.preroll_ms * SAMPLE_RATE // 1000, self._committed, recent_start)
            pre_start = min(pre_start, start)
            i = (pre_start - recent_start) * 2
            utt = _Utterance(pre_start)
            utt.pending += self._recent[i : i + (start - pre_start) * 2]
        self._dec.start_utt()
        self._utt = utt
        return utt

    @property
    def _batch_bytes(self) -> int:
        return self._opts.decode_ms * SAMPLE_RATE // 1000 * 2

    def _feed(self, utt: _Utterance) -> None:
        if not utt.pending:
            return
        self._dec.process_raw(bytes(utt.pending))
        utt.fed += len(utt.pending) // 2
        utt.pending.clear()

    def _decode(self, utt: _Utterance, events: list[Event]) -> None:
        self._feed(utt)
        hyp = self._dec.hyp()
        words: list[str] = hyp.hypstr.split() if hyp is not None else []
        if words != utt.words:
            events.append(
                Partial(
                    text=" ".join(words),
                    start=utt.start,
                    end=utt.start + utt.fed,
                    stability=stability(utt.words, words),
                )
            )
            utt.words, utt.reported = words, True

    def _close_utterance(self, utt: _Utterance, events: list[Event], speech_final: bool) -> None:
        self._feed(utt)
        self._utt = None
        self._dec.end_utt()
        words = words_from_seg(self._dec, utt.start)
        end = utt.start + utt.fed
        if words or utt.reported:
            events.append(
                Final(
                    text=" ".join(w.text for w in words),
                    start=utt.start,
                    end=end,
                    words=words,
                    speech_final=speech_final,
                )
            )
        else:  # noise the decoder found no words in: nothing to replace
            events.append(Commit(end))
        self._committed = end

    def _idle_commit(self, events: list[Event]) -> None:
        if self._utt is not None or self._ep.in_speech:
            return
        # Speech can still start inside the endpointer's window, and its
        # preroll reaches further back: commit only what lies before both.
        safe = (
            self._origin
            + self._received
            - int(self._opts.ep_window * SAMPLE_RATE)
            - self._opts.preroll_ms * SAMPLE_RATE // 1000
        )
        if safe - self._committed >= self._opts.idle_commit_s * SAMPLE_RATE:
            events.append(Commit(safe))
            self._committed = safe


class PocketsphinxEngine(Engine):
    name = "pocketsphinx"
    languages = ("en-US",)

    def __init__(self, options: Options | None = None) -> None:
        self.options = options or Options()
        # Every stream gets a decoder that has decoded nothing. A used decoder
        # carries its past into the next stream: the last speaker's cepstral
        # mean and noise estimate. A stream's transcript then depended on
        # which streams its process had served before, i.e. on scheduling:
        # the same recording came out differently, and a stream resumed after
        # a worker died differed from the uninterrupted one (resume_check.py).
        # Loading takes ~0.25 s CPU, done ahead of time (prepare_next).
        self._unused: list[Decoder] = []
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self.prepare_next()

    def prepare_next(self) -> None:
        with self._lock:
            if self._unused:
                return
        decoder = new_decoder()
        with self._lock:
            self._unused.append(decoder)

    def new_stream(self, settings: StreamSettings) -> PocketsphinxStream:
        if settings.sample_rate_hz != SAMPLE_RATE:
            raise ValueError(f"sample_rate_hz must be {SAMPLE_RATE}")
        return PocketsphinxStream(self._take_unused(), self.options, settings)

    def decode_whole(self, pcm: bytes) -> str:
        """Offline reference: the whole recording as one utterance, one pass."""
        decoder = self._take_unused()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        return " ".join(w.text for w in words_from_seg(decoder, 0))

    def _take_unused(self) -> Decoder:
        with self._lock:
            if self._unused:
                return self._unused.pop()
        return new_decoder()
