"""Liveness probe of a speech worker, for Kubernetes' exec probe:

    python -m parley_asr.probe [--port 50051] [--timeout 5]

A TCP probe passes while the process accepts connections (gRPC's C core does
that on threads of its own), even when its Python no longer runs: a native call
that hangs holding the GIL stops the pass watchdog and --stuck-exit with it.
This asks GetWorkerInfo as the bridge does, which needs the worker's Python to
answer. Any answer means alive, "engine stuck" (UNAVAILABLE) included, since
--stuck-exit restarts that one on its own clock; no answer in time, or no
connection, means not. Exit code 0: alive; 1: not. Sends ASR_AUTH_TOKEN as the
node does; a wrong token is an answer too.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import grpc

from .gen import asr_pb2 as pb
from .gen import asr_pb2_grpc

STUCK = "speech engine stuck"  # what GetWorkerInfo says of a stuck engine (scheduler.py)


def alive(port: int, timeout_s: float, host: str = "127.0.0.1") -> tuple[bool, str]:
    """Whether the worker's Python answers within timeout_s, and why not."""
    deadline = time.monotonic() + timeout_s
    token = os.environ.get("ASR_AUTH_TOKEN", "")
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            return False, f"no connection to {host}:{port} in {timeout_s:g} s"
        stub = asr_pb2_grpc.SpeechRecognizerStub(channel)
        try:
            stub.GetWorkerInfo(
                pb.GetWorkerInfoRequest(), timeout=max(0.1, deadline - time.monotonic()), metadata=metadata
            )
            return True, "ok"
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f"GetWorkerInfo unanswered in {timeout_s:g} s"
            if code == grpc.StatusCode.UNAVAILABLE and STUCK not in details:
                return False, f"connection lost: {details}"
            return True, f"{code.name}: {details}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_asr.probe", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=50051)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")
    args = parser.parse_args(argv)
    ok, why = alive(args.port, args.timeout)
    if not ok:
        print(f"parley_asr.probe: not alive: {why}", file=sys.stderr, flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
