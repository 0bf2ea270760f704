"""Development check: does a resumed stream transcribe like an uninterrupted one?

    .venv/bin/python resume_check.py [--cuts 1,2,3,...] [--busy N] [--fresh-worker] [--only NAMES] [--raw-dir DIR]

Over real gRPC, as the bridge does after a speech worker dies: stream A gets the
audio up to a cut point and is cancelled once the worker has worked it off;
stream B starts at A's last committed offset (`start_offset_samples`;
`first_segment_id` after A's last acknowledged final, whose id B may reuse) and
gets the rest, the replay as one chunk (as RecognitionStream writes a contiguous
ring), then 20 ms chunks. The transcript (finals by segment id, a later final of
an id replacing it) is compared with an uninterrupted stream of the same audio,
per cut point.

Inputs: the five librivox recordings of pocketsphinx-testdata, each on its own
(one utterance each: cuts fall mid-utterance), and all five in one stream with
1 s of silence between them (cuts after the first utterances resume from a
committed offset > 0). `--raw-dir` adds 16 kHz s16le `*.raw` files (e.g. audio
after an Opus round trip) named `<id>-<variant>.raw`, scored against the librivox
reference whose id ends the same.

By default one worker with one engine process serves every stream in turn, as a
busy worker's process serves one customer after another. `--fresh-worker`
starts a new worker for every stream instead (the voice-path test's case: the
stream resumes on an idle second worker). `--busy N` keeps N other processes
spinning on a core meanwhile.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc

from parley_asr.audio import read_pcm
from parley_asr.gen import asr_pb2 as pb
from parley_asr.gen import asr_pb2_grpc
from selftest import CHUNK, references, start_server, word_errors

SAMPLE_RATE = 16000
SILENCE_BETWEEN = b"\0" * 32000  # 1 s


@dataclass
class Transcript:
    """What the bridge knows of a stream (RecognitionStream's bookkeeping)."""

    finals: dict[int, str]  # segment id -> text; a later final of an id replaces it
    committed: int  # last acknowledged offset
    next_segment_id: int  # after the last acknowledged final
    last_final_id: int = -1
    resumed_at: int = 0  # where the second stream started

    @property
    def text(self) -> str:
        return " ".join(t for _, t in sorted(self.finals.items()) if t)


class Workers:
    """One long-lived worker with one engine process, or a fresh one per stream."""

    def __init__(self, fresh: bool) -> None:
        self.fresh = fresh
        self._server: subprocess.Popen[str] | None = None
        self._stub: asr_pb2_grpc.SpeechRecognizerStub | None = None

    def stub(self) -> asr_pb2_grpc.SpeechRecognizerStub:
        if self.fresh:
            self.close()
        if self._stub is None:
            self._server, port = start_server("--max-streams", "1")
            self._stub = asr_pb2_grpc.SpeechRecognizerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        return self._stub

    def close(self) -> None:
        if self._server is not None:
            self._server.terminate()
            self._server.wait(10)
        self._server, self._stub = None, None


class _Progress:
    """How far the worker has got. It reads the next chunk only after decoding
    the last, and each segment says how much audio it had read by then
    (audio_offset_samples); in silence it says nothing. So: it has worked off
    what it was sent once it has read to within the longest silence of the
    inputs (~1.3 s) of the end and then said nothing for a second."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.heard = 0
        self.call: grpc.Call | None = None

    def wait_for(self, end: int) -> None:
        self.last = max(self.last, time.monotonic())
        give_up = time.monotonic() + 60.0
        while time.monotonic() < give_up and (time.monotonic() - self.last < 1.0 or self.heard < end - 2 * SAMPLE_RATE):
            time.sleep(0.05)


def _requests(
    pcm: bytes, start: int, first_segment_id: int, replay: int, end: bool, progress: _Progress
) -> Iterator[pb.RecognizeRequest]:
    """`replay` samples as one chunk (a reconnect's replay), the rest in 20 ms chunks."""
    yield pb.RecognizeRequest(
        config=pb.StreamConfig(
            session_id="resume-check",
            sample_rate_hz=16000,
            start_offset_samples=start,
            first_segment_id=first_segment_id,
        )
    )
    at = 0
    if replay:
        yield pb.RecognizeRequest(audio=pb.AudioChunk(offset_samples=start, pcm=pcm[: replay * 2]))
        at = replay * 2
    for i in range(at, len(pcm), CHUNK * 2):
        yield pb.RecognizeRequest(audio=pb.AudioChunk(offset_samples=start + i // 2, pcm=pcm[i : i + CHUNK * 2]))
    if end:
        yield pb.RecognizeRequest(end=pb.EndOfStream())
    else:
        # The worker dies once it has worked off what it was sent (as when it
        # keeps up with live audio): cancel, never half-close, which would
        # finalise the open utterance.
        progress.wait_for(start + len(pcm) // 2)
        assert progress.call is not None
        progress.call.cancel()


def _stream(
    stub: asr_pb2_grpc.SpeechRecognizerStub,
    pcm: bytes,
    into: Transcript,
    start: int = 0,
    replay: int = 0,
    end: bool = True,
) -> None:
    progress = _Progress()
    call = stub.Recognize(_requests(pcm, start, into.next_segment_id, replay, end, progress))
    progress.call = call
    try:
        for r in call:
            progress.last = time.monotonic()
            kind = r.WhichOneof("kind")
            if kind == "segment":
                progress.heard = max(progress.heard, r.segment.audio_offset_samples)
            if kind == "segment" and r.segment.is_final:
                into.finals[r.segment.segment_id] = r.segment.text
                into.last_final_id = max(into.last_final_id, r.segment.segment_id)
            elif kind == "ack":  # every final so far is committed
                into.next_segment_id = max(into.next_segment_id, into.last_final_id + 1)
                into.committed = max(into.committed, r.ack.committed_offset_samples)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.CANCELLED:
            raise
    finally:
        call.cancel()


def uninterrupted(workers: Workers, pcm: bytes) -> Transcript:
    t = Transcript({}, 0, 0)
    _stream(workers.stub(), pcm, t)
    return t


def resumed(workers: Workers, pcm: bytes, cut_s: float) -> Transcript:
    t = Transcript({}, 0, 0)
    cut = int(cut_s * 16000) * 2
    stub = workers.stub()
    _stream(stub, pcm[:cut], t, end=False)
    # The worker frees the dying stream's engine process once it sees the cancel.
    while not workers.fresh and stub.GetWorkerInfo(pb.GetWorkerInfoRequest()).active_streams:
        time.sleep(0.05)
    start = t.resumed_at = t.committed
    _stream(workers.stub(), pcm[start * 2 :], t, start=start, replay=cut // 2 - start)
    return t


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cuts", default="1,2,3,4,5,8,11,15,19,23,26", help="cut points in seconds")
    parser.add_argument("--busy", type=int, default=0, help="other processes spinning on a core meanwhile")
    parser.add_argument("--fresh-worker", action="store_true", help="a new worker (fresh engine) per stream")
    parser.add_argument("--raw-dir", help="also score DIR/*.raw (16 kHz s16le, named <id>-<variant>.raw)")
    parser.add_argument("--only", help="comma-separated input names (0870, ..., all5, raw file names)")
    args = parser.parse_args()
    cuts = [float(c) for c in args.cuts.split(",")]

    refs = references()
    files = sorted(refs)
    inputs: list[tuple[str, bytes, str]] = [(os.path.basename(f)[-8:-4], read_pcm(f), refs[f]) for f in files]
    inputs.append(("all5", SILENCE_BETWEEN.join(read_pcm(f) for f in files), " ".join(refs[f] for f in files)))
    for path in sorted(glob.glob(os.path.join(args.raw_dir, "*.raw")) if args.raw_dir else []):
        name = os.path.basename(path)[:-4]
        ref = next(r for f, r in refs.items() if f[:-4].endswith(name.split("-")[0]))
        with open(path, "rb") as raw:
            inputs.append((name, raw.read(), ref))

    if args.only:
        inputs = [i for i in inputs if i[0] in args.only.split(",")]
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    workers = Workers(args.fresh_worker)
    totals = {"uninterrupted": [0, 0], **{f"cut {c:g}s": [0, 0] for c in cuts}}
    differing = 0
    try:
        print(
            f"{'fresh worker per stream' if args.fresh_worker else 'one worker, one engine process'}; busy {args.busy}"
        )
        for name, pcm, ref in inputs:
            seconds = len(pcm) / 32000
            base = uninterrupted(workers, pcm)
            errors, words = word_errors(ref, base.text), len(ref.split())
            totals["uninterrupted"][0] += errors
            totals["uninterrupted"][1] += words
            print(f"{name}: uninterrupted WER {errors / words:.3f}  {base.text!r}", flush=True)
            for c in cuts:
                if c >= seconds:
                    continue
                t = resumed(workers, pcm, c)
                e = word_errors(ref, t.text)
                totals[f"cut {c:g}s"][0] += e
                totals[f"cut {c:g}s"][1] += words
                same = t.text == base.text
                differing += not same
                print(
                    f"  cut {c:4g} s, resumed at {t.resumed_at / 16000:5.2f} s: WER {e / words:.3f} "
                    f"{'same' if same else 'DIFFERENT: ' + repr(t.text)}",
                    flush=True,
                )
    finally:
        workers.close()
        for p in busy:
            p.kill()
    print("WER over the inputs each cut applies to:")
    for label, (errors, words) in totals.items():
        if words:
            print(f"  {label:14s} {errors / words:.3f} ({errors}/{words})")
    print(f"resumed transcripts that differ from the uninterrupted one: {differing}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
