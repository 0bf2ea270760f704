"""Development self-check of the worker over real gRPC (not a unit test).

    .venv/bin/python selftest.py [-v] [--concurrency N] [--one-stream] [--realtime] [--opus BITRATE] [FILE...]

Starts `python -m parley_asr --port 0`, streams each recording in 20 ms chunks
(default: Debian's pocketsphinx-testdata librivox files), prints finals (and
partials with -v), the word error rate of the streaming finals against the
references next to the offline one-pass WER (python -m parley_asr.offline),
the real-time factor, and then checks the protocol's error paths. The offline
WER is always computed on the original files.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import grpc

from parley_asr.audio import read_pcm
from parley_asr.gen import asr_pb2 as pb
from parley_asr.gen import asr_pb2_grpc

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"
CHUNK = 320  # samples: 20 ms at 16 kHz


@dataclass
class StreamResult:
    text: str
    partials: int
    latencies: list[float] = field(default_factory=list)  # ms from capture to segment


def references() -> dict[str, str]:
    refs = {}
    path = os.path.join(LIBRIVOX, "transcription")
    if os.path.exists(path):
        with open(path) as transcription:
            for line in transcription:
                m = re.match(r"<s> (.*) </s> \((.*)\)", line.strip())
                if m:
                    refs[os.path.join(LIBRIVOX, m.group(2) + ".wav")] = m.group(1)
    return refs


def word_errors(ref: str, hyp: str) -> int:
    r, h = ref.split(), hyp.split()
    row = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, row[0] = row[:], i
        for j in range(1, len(h) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r[i - 1] != h[j - 1]))
    return row[len(h)]


def wer(refs: dict[str, str], hyps: dict[str, str]) -> float:
    errors = sum(word_errors(refs[f], hyps.get(f, "")) for f in refs)
    return errors / max(1, sum(len(refs[f].split()) for f in refs))


def opus_round_trip(pcm: bytes, bitrate: int) -> bytes:
    """Encode and decode 20 ms frames with the system libopus (as WebRTC would)."""
    lib = ctypes.CDLL(ctypes.util.find_library("opus") or "libopus.so.0")
    lib.opus_encoder_create.restype = lib.opus_decoder_create.restype = ctypes.c_void_p
    err = ctypes.c_int()
    enc = ctypes.c_void_p(lib.opus_encoder_create(16000, 1, 2048, ctypes.byref(err)))  # 2048: VOIP
    dec = ctypes.c_void_p(lib.opus_decoder_create(16000, 1, ctypes.byref(err)))
    lib.opus_encoder_ctl(enc, 4002, ctypes.c_int(bitrate))  # OPUS_SET_BITRATE
    packet, frame_out, out = ctypes.create_string_buffer(4000), (ctypes.c_int16 * CHUNK)(), bytearray()
    pcm += b"\0" * (-len(pcm) % (CHUNK * 2))
    for i in range(0, len(pcm), CHUNK * 2):
        frame = (ctypes.c_int16 * CHUNK).from_buffer_copy(pcm[i : i + CHUNK * 2])
        size = lib.opus_encode(enc, frame, CHUNK, packet, len(packet))
        lib.opus_decode(dec, packet, size, frame_out, CHUNK, 0)
        out += bytes(frame_out)
    lib.opus_encoder_destroy(enc)
    lib.opus_decoder_destroy(dec)
    return bytes(out)


def start_server(*extra: str) -> tuple[subprocess.Popen[str], int]:
    with open(os.path.join(HERE, "selftest.log"), "w") as server_log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "parley_asr", "--port", "0", *extra],
            cwd=HERE,
            stdout=subprocess.PIPE,
            stderr=server_log,
            text=True,
        )
    assert proc.stdout is not None  # stdout=PIPE
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        raise SystemExit(f"server did not start: {line!r}; see selftest.log")
    return proc, int(line.split()[1])


def requests(
    pcm: bytes, session_id: str, realtime: bool, start: int = 0, first_segment_id: int = 0
) -> Iterator[pb.RecognizeRequest]:
    yield pb.RecognizeRequest(
        config=pb.StreamConfig(
            session_id=session_id, sample_rate_hz=16000, start_offset_samples=start, first_segment_id=first_segment_id
        )
    )
    for i in range(0, len(pcm), CHUNK * 2):
        if realtime:
            time.sleep(CHUNK / 16000)
        yield pb.RecognizeRequest(
            audio=pb.AudioChunk(
                offset_samples=start + i // 2, pcm=pcm[i : i + CHUNK * 2], captured_at_ms=time.time() * 1000
            )
        )
    yield pb.RecognizeRequest(end=pb.EndOfStream())


def recognize(
    stub: asr_pb2_grpc.SpeechRecognizerStub, pcm: bytes, name: str, realtime: bool, verbose: bool
) -> StreamResult:
    """Streams one recording; returns its final text and latency figures."""
    finals: list[str] = []
    latencies: list[float] = []
    acks: list[int] = []
    partials = 0
    for r in stub.Recognize(requests(pcm, name, realtime)):
        kind = r.WhichOneof("kind")
        if kind == "segment":
            s = r.segment
            latencies.append(time.time() * 1000 - s.captured_at_ms)
            if s.is_final:
                finals.append(s.text)
                words = " ".join(f"{w.text}@{w.start_ms}-{w.end_ms}" for w in s.words)
                timings = words if verbose else ""
                print(f"  [{name}] FINAL #{s.segment_id} {s.start_ms}-{s.end_ms} ms: {s.text!r}  {timings}")
            else:
                partials += 1
                if verbose:
                    print(f"  [{name}] partial #{s.segment_id} ({s.stability:.2f}) {s.text!r}")
        elif kind == "ack":
            acks.append(r.ack.committed_offset_samples)
        elif verbose:
            print(f"  [{name}] {kind}: {getattr(r, kind)}".rstrip())
    assert acks and acks[-1] == len(pcm) // 2, f"last ack {acks[-1:]} != {len(pcm) // 2}"
    return StreamResult(" ".join(t for t in finals if t), partials, latencies)


def expect_error(code: grpc.StatusCode, call: Iterable[pb.RecognizeResponse]) -> str:
    try:
        for _ in call:
            pass
    except grpc.RpcError as exc:
        assert exc.code() == code, f"expected {code}, got {exc.code()}: {exc.details()}"
        details: str = exc.details()
        return details
    raise AssertionError(f"expected {code}, the stream succeeded")


def protocol_checks(stub: asr_pb2_grpc.SpeechRecognizerStub, max_streams: int) -> None:
    audio = pb.RecognizeRequest(audio=pb.AudioChunk(offset_samples=0, pcm=b"\0" * 640))
    config = pb.RecognizeRequest(config=pb.StreamConfig(session_id="check", sample_rate_hz=16000))
    print("  audio first:", expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.Recognize(iter([audio]))))
    gap = pb.RecognizeRequest(audio=pb.AudioChunk(offset_samples=960, pcm=b"\0" * 640))
    print("  offset gap:", expect_error(grpc.StatusCode.INVALID_ARGUMENT, stub.Recognize(iter([config, audio, gap]))))

    # Hold max_streams streams open, then one more must be refused.
    release = threading.Event()

    def held() -> Iterator[pb.RecognizeRequest]:
        yield config
        release.wait()

    calls = [stub.Recognize(held()) for _ in range(max_streams)]
    for c in calls:
        assert next(c).HasField("ready")
    info = stub.GetWorkerInfo(pb.GetWorkerInfoRequest())
    assert info.active_streams == max_streams, info
    print("  over limit:", expect_error(grpc.StatusCode.RESOURCE_EXHAUSTED, stub.Recognize(iter([config]))))
    for c in calls:  # client cancel frees the engine processes at once
        c.cancel()
    deadline = time.time() + 5
    while stub.GetWorkerInfo(pb.GetWorkerInfoRequest()).active_streams and time.time() < deadline:
        time.sleep(0.05)
    info = stub.GetWorkerInfo(pb.GetWorkerInfoRequest())
    assert info.active_streams == 0, info
    release.set()
    print(
        f"  after cancel: {info.active_streams} active; info: engine={info.engine} "
        f"languages={list(info.languages)} max_streams={info.max_streams}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*")
    parser.add_argument("-v", "--verbose", action="store_true", help="print partials and word timings")
    parser.add_argument("--concurrency", type=int, default=1, help="recordings streamed at once")
    parser.add_argument("--one-stream", action="store_true", help="all recordings in one stream, 1 s of silence apart")
    parser.add_argument("--realtime", action="store_true", help="pace chunks at real time")
    parser.add_argument("--max-streams", type=int, default=2)
    parser.add_argument("--opus", type=int, metavar="BITRATE", help="round-trip the audio through Opus first")
    args = parser.parse_args()

    refs = references()
    files = args.files or sorted(refs)
    audio = {f: read_pcm(f) for f in files}
    if args.opus:
        audio = {f: opus_round_trip(a, args.opus) for f, a in audio.items()}
    seconds = sum(len(a) for a in audio.values()) / 32000
    server, port = start_server("--max-streams", str(max(args.max_streams, args.concurrency)))
    try:
        stub = asr_pb2_grpc.SpeechRecognizerStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        print(f"worker on port {port}: streaming {len(files)} recordings ({seconds:.1f} s)")
        started = time.monotonic()
        results: dict[str, StreamResult] = {}
        if args.one_stream:
            silence = b"\0" * 32000
            joined = silence.join(audio[f] for f in files)
            results["all"] = recognize(stub, joined, "all", args.realtime, args.verbose)
        else:
            pending = list(files)
            lock = threading.Lock()

            def worker() -> None:
                while True:
                    with lock:
                        if not pending:
                            return
                        f = pending.pop(0)
                    results[f] = recognize(stub, audio[f], os.path.basename(f)[-8:-4], args.realtime, args.verbose)

            threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        elapsed = time.monotonic() - started
        latencies = sorted(x for r in results.values() for x in r.latencies)
        print(
            f"streaming: {elapsed:.1f} s wall for {seconds:.1f} s audio, RTF {elapsed / seconds:.2f} "
            f"(concurrency {args.concurrency}); {sum(r.partials for r in results.values())} partials; "
            f"result latency p50 {latencies[len(latencies) // 2]:.0f} ms, max {latencies[-1]:.0f} ms"
        )

        scored = {f: refs[f] for f in files if f in refs}
        if scored:
            offline: dict[str, str] = json.loads(
                subprocess.run(
                    [sys.executable, "-m", "parley_asr.offline", *scored],
                    cwd=HERE,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            if args.one_stream:
                ref = {"all": " ".join(scored.values())}
                w_stream, w_off = (
                    wer(ref, {"all": results["all"].text}),
                    wer(ref, {"all": " ".join(offline.values())}),
                )
            else:
                w_stream, w_off = wer(scored, {f: r.text for f, r in results.items()}), wer(scored, offline)
            limit = 1.2 * w_off + 0.05
            print(
                f"WER streaming {w_stream:.3f}  offline {w_off:.3f}  (limit 1.2 x offline + 0.05 = {limit:.3f}): "
                f"{'OK' if w_stream <= limit else 'TOO HIGH'}"
            )

        print("protocol checks:")
        protocol_checks(stub, max(args.max_streams, args.concurrency))
        print("all checks passed")
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
