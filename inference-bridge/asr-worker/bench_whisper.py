"""Benchmark: N real-time streams into one Whisper worker (not a test).

    .venv/bin/python bench_whisper.py --synthetic tiny --streams 2,4,8 --duration 30          # CPU
    .venv/bin/python bench_whisper.py --synthetic large-v3-turbo --device cuda \\
        --streams 100,200,300,400,500,600 --duration 60                                      # GPU
    .venv/bin/python bench_whisper.py --model /models/whisper-large-v3-turbo ...              # real weights

Each stream plays recorded speech with pauses (Debian's pocketsphinx-testdata
librivox files, 1.5 s of low noise between them), looped, from its own random
starting point, paced at real time in `--chunk-ms` messages (the bridge's
ASR_CHUNK_MS). For each level of N it reports:

- partial lag: arrival of a result minus the capture time of the newest audio
  it covers (the `captured_at_ms` echo, as the bridge measures), p50/p95;
- staleness: arrival minus capture of the OLDEST audio the result was the
  first to cover (how late a word can appear: includes the update interval);
- the worker's ticks (from its `scheduler_stats` log): batch sizes, time per
  tick split into encoder and decoder, window length, accelerator memory.

"Served" is the largest N whose p95 partial lag is at most --target-ms (2 s)
with no stream failing. `--synthetic SHAPE` writes a random-weight model of
that shape (parley_asr.whisper.synthetic; no download): throughput does not
depend on the weights' values.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

from parley_asr.audio import read_pcm

HERE = os.path.dirname(os.path.abspath(__file__))
LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"
S = 16000


def programme() -> bytes:
    """The recordings with 1.5 s pauses of low noise between them."""
    rng = np.random.default_rng(0)
    parts: list[bytes] = []
    for path in sorted(glob.glob(os.path.join(LIBRIVOX, "*.wav"))):
        parts.append(read_pcm(path))
        parts.append((rng.standard_normal(int(1.5 * S)) * 30).astype(np.int16).tobytes())
    if not parts:
        raise SystemExit(f"no recordings in {LIBRIVOX}: apt-get install pocketsphinx-testdata")
    return b"".join(parts)


async def one_stream(
    stub: Any,
    pb: Any,
    audio: bytes,
    index: int,
    seconds: float,
    chunk_ms: int,
    out: list[tuple[float, float]],
    errors: list[str],
) -> None:
    chunk = S * chunk_ms // 1000 * 2
    offset = random.Random(index).randrange(0, len(audio) // chunk) * chunk
    loop = asyncio.get_running_loop()
    t0 = time.time()
    sent_until = [0]  # samples sent

    async def requests() -> Any:
        yield pb.RecognizeRequest(config=pb.StreamConfig(session_id=f"bench-{index}", sample_rate_hz=S, language="en"))
        n = 0
        while n * chunk_ms / 1000 < seconds:
            start = (offset + n * chunk) % (len(audio) - chunk)
            due = t0 + (n + 1) * chunk_ms / 1000  # the chunk is complete when its last sample is captured
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            yield pb.RecognizeRequest(
                audio=pb.AudioChunk(
                    offset_samples=n * chunk // 2, pcm=audio[start : start + chunk], captured_at_ms=time.time() * 1000
                )
            )
            n += 1
            sent_until[0] = n * chunk // 2
        yield pb.RecognizeRequest(end=pb.EndOfStream())

    covered = 0
    try:
        call = stub.Recognize(requests())
        async for response in call:
            if response.WhichOneof("kind") != "segment":
                continue
            now = time.time() * 1000
            seg = response.segment
            end = seg.end_ms * S // 1000
            if end > covered:
                oldest_capture = (t0 + (covered / S)) * 1000 + chunk_ms
                out.append((now - seg.captured_at_ms, now - oldest_capture))
                covered = end
    except Exception as exc:
        errors.append(f"stream {index}: {exc}")
    del loop


def client_process(port: int, first: int, count: int, seconds: float, chunk_ms: int, queue: Any) -> None:
    import grpc

    from parley_asr.gen import asr_pb2 as pb
    from parley_asr.gen import asr_pb2_grpc

    audio = programme()

    async def main() -> None:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = asr_pb2_grpc.SpeechRecognizerStub(channel)
            lags: list[tuple[float, float]] = []
            errors: list[str] = []
            await asyncio.gather(
                *(one_stream(stub, pb, audio, i, seconds, chunk_ms, lags, errors) for i in range(first, first + count))
            )
            queue.put((lags, errors))

    asyncio.run(main())


Worker = tuple[subprocess.Popen[str], int, list[dict[str, Any]]]


def start_worker(args: argparse.Namespace, model: str, max_streams: int) -> Worker:
    cmd = [
        sys.executable,
        "-m",
        "parley_asr",
        "--engine",
        "whisper",
        "--model-path",
        model,
        "--port",
        "0",
        "--max-streams",
        str(max_streams),
        "--stats-interval",
        "2",
    ]
    if args.device:
        cmd += ["--device", args.device]
    if args.max_batch:
        cmd += ["--max-batch", str(args.max_batch)]
    proc = subprocess.Popen(cmd, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    records: list[dict[str, Any]] = []

    def read_log() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    records.append(json.loads(line))

    threading.Thread(target=read_log, daemon=True).start()
    line = proc.stdout.readline()
    if not line.startswith("LISTENING "):
        proc.wait(5)
        failed = [r for r in records if r.get("level") == "error"]
        raise SystemExit(f"worker did not start: {failed or line!r}")
    return proc, int(line.split()[1]), records


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run_level(port: int, n: int, args: argparse.Namespace, records: list[dict[str, Any]]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = max(1, min(args.client_procs or (n + 99) // 100, n))
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    mark = len(records)
    workers, first = [], 0
    for count in per:
        p = ctx.Process(target=client_process, args=(port, first, count, args.duration, args.chunk_ms, queue))
        p.start()
        workers.append(p)
        first += count
    lags: list[tuple[float, float]] = []
    errors: list[str] = []
    for _ in workers:
        got_lags, got_errors = queue.get(timeout=args.duration + 300)
        lags += got_lags
        errors += got_errors
    for p in workers:
        p.join()
    # skip the first seconds (streams starting together) for the lag figures
    stats = [r for r in records[mark:] if r.get("event") == "scheduler_stats"]
    ticks = [s for s in stats if s.get("ticks")]
    newest = [a for a, _ in lags]
    oldest = [b for _, b in lags]

    def mean(key: str) -> float:
        values = [float(s[key]) for s in ticks]
        return round(sum(values) / len(values), 1) if values else 0.0

    return {
        "streams": n,
        "results": len(lags),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
        "lag_p50_ms": round(pct(newest, 50)),
        "lag_p95_ms": round(pct(newest, 95)),
        "stale_p95_ms": round(pct(oldest, 95)),
        "batch_mean": mean("batch_mean"),
        "batch_max": max((int(s["batch_max"]) for s in ticks), default=0),
        "tick_ms_p50": mean("tick_ms_p50"),
        "encoder_ms_p50": mean("encoder_ms_p50"),
        "decoder_ms_p50": mean("decoder_ms_p50"),
        "tick_ms_p95": mean("tick_ms_p95"),
        "window_s": mean("window_s_mean"),
        "speaking": mean("speaking_streams"),
        "memory_mb": max((int(s.get("memory_mb", 0)) for s in stats), default=0),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a Hugging Face Whisper folder")
    source.add_argument(
        "--synthetic",
        choices=["tiny", "large-v3-turbo", "large-v3"],
        help="write a random-weight model of this shape first",
    )
    parser.add_argument("--streams", default="2,4,8", help="comma-separated levels of N")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per level")
    parser.add_argument("--chunk-ms", type=int, default=100)
    parser.add_argument("--target-ms", type=float, default=2000.0)
    parser.add_argument("--device")
    parser.add_argument("--max-batch", type=int)
    parser.add_argument("--client-procs", type=int, help="client processes (default: one per 100 streams)")
    parser.add_argument("--json", help="also write the table here")
    args = parser.parse_args()
    levels = [int(x) for x in args.streams.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench-whisper-") as tmp:
        model = args.model
        if args.synthetic:
            from parley_asr.whisper.synthetic import write_model

            started = time.monotonic()
            model = write_model(os.path.join(tmp, args.synthetic), args.synthetic)
            print(f"wrote a random-weight {args.synthetic} model in {time.monotonic() - started:.0f} s", flush=True)
        proc, port, records = start_worker(args, model, max(levels))
        try:
            ready = next((r for r in records if r.get("event") == "whisper_ready"), {})
            print(
                "worker:",
                {
                    k: ready.get(k)
                    for k in (
                        "device",
                        "dtype",
                        "cuda_graphs",
                        "calibration_batch",
                        "encoder_ms",
                        "decoder_ms",
                        "per_pass_ms",
                        "measured_max_streams",
                    )
                },
                flush=True,
            )
            rows = []
            for n in levels:
                row = run_level(port, n, args, records)
                rows.append(row)
                print(json.dumps(row), flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    header = [
        "streams",
        "lag_p50_ms",
        "lag_p95_ms",
        "stale_p95_ms",
        "batch_mean",
        "batch_max",
        "tick_ms_p50",
        "encoder_ms_p50",
        "decoder_ms_p50",
        "window_s",
        "speaking",
        "memory_mb",
        "errors",
    ]
    print("\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")
    served = [r["streams"] for r in rows if r["lag_p95_ms"] <= args.target_ms and not r["errors"]]
    print(
        f"\nstreams served at p95 partial lag <= {args.target_ms:.0f} ms: {max(served) if served else 0}"
        f" (levels tried: {levels})"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ready": ready, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
