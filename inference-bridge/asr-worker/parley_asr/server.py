"""Command line and server lifecycle.

    python -m parley_asr --host 127.0.0.1 --port 0 [--max-streams N] [--worker-id ID]
                         [--engine pocketsphinx|whisper] [--model-path DIR] [--device cuda|cuda:N|cpu]
                         [--dtype bfloat16|float16|float32] [--max-batch N] [--no-cuda-graphs]
                         [--stats-interval S] [--pass-deadline S] [--stuck-exit S]
                         [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]]

Prints `LISTENING <port>` on stdout once it accepts calls; logs JSON lines on
stderr; SIGTERM/SIGINT stop it gracefully. A worker whose engine stays stuck
longer than --stuck-exit exits with code 3 (EXIT_ENGINE_STUCK), for its
supervisor to start a fresh one. With ASR_AUTH_TOKEN in its environment, every
call must carry `authorization: Bearer <token>`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from concurrent import futures

import grpc

from . import log as logmod
from .auth import TokenAuth, server_credentials
from .engine import ENGINES
from .gen import asr_pb2_grpc
from .log import log
from .pool import StreamPool, open_pool
from .service import SpeechRecognizer

STOP_GRACE_S = 2.0  # the bridge SIGKILLs 3 s after SIGTERM
PARENT_CHECK_S = 1.0  # how often --exit-with-parent looks for its parent
STUCK_CHECK_S = 1.0  # how often --stuck-exit looks at the engine (a smaller bound looks more often)
DEFAULT_STUCK_EXIT_S = 120.0
EXIT_ENGINE_STUCK = 3  # exit codes: 1 the port is taken, 2 the engine cannot start, 3 it stayed stuck

# The bridge pings every 10 s, also without calls; grpc's defaults would
# answer such pings with GOAWAY ("too many pings") and break its channel.
SERVER_OPTIONS = [
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 5_000),
    ("grpc.http2.max_ping_strikes", 0),
    # Fail loudly when the port is taken instead of sharing it.
    ("grpc.so_reuseport", 0),
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m parley_asr", description="Parley speech-recognition worker")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see the LISTENING line)")
    parser.add_argument(
        "--max-streams",
        type=int,
        default=None,
        help="concurrent Recognize streams; default: 2 per CPU (pocketsphinx, one process each), "
        "or measured at start-up (whisper)",
    )
    parser.add_argument("--worker-id", default=f"{socket.gethostname()}-{os.getpid()}")
    parser.add_argument("--engine", default="pocketsphinx", choices=sorted(ENGINES))
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (with --tls-key)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    parser.add_argument("--tls-client-ca", help="PEM CA: callers must present a certificate it signed")
    parser.add_argument(
        "--exit-with-parent",
        action="store_true",
        help="stop when the process that started this one is gone (a killed node leaves no embedded worker)",
    )
    whisper = parser.add_argument_group("whisper")
    whisper.add_argument(
        "--model-path",
        default=os.environ.get("WHISPER_MODEL_PATH"),
        help="local Hugging Face Whisper folder (default: $WHISPER_MODEL_PATH); never downloaded",
    )
    whisper.add_argument("--device", help="cuda, cuda:N or cpu (default: cuda when available)")
    whisper.add_argument(
        "--dtype", choices=["bfloat16", "float16", "float32"], help="default: bfloat16 on cuda, float32 on cpu"
    )
    whisper.add_argument("--max-batch", type=int, help="windows per batched pass (default 64)")
    whisper.add_argument("--no-cuda-graphs", action="store_true", help="decode with eager steps")
    whisper.add_argument("--stats-interval", type=float, help="seconds between scheduler_stats log lines (10)")
    whisper.add_argument(
        "--pass-deadline",
        type=float,
        help="seconds a batched pass may run before the engine counts as stuck: its streams fail, new ones are "
        "refused (UNAVAILABLE) until it answers (default: three times the longest pass measured at start-up, "
        "at least 10)",
    )
    whisper.add_argument(
        "--stuck-exit",
        type=float,
        default=DEFAULT_STUCK_EXIT_S,
        help="seconds the engine may stay stuck (see --pass-deadline) before the worker exits with code "
        f"{EXIT_ENGINE_STUCK} for its supervisor to restart it; 0: never (default {DEFAULT_STUCK_EXIT_S:g})",
    )
    args = parser.parse_args(argv)
    if args.max_streams is not None and args.max_streams < 1:
        parser.error("--max-streams must be at least 1")
    if args.pass_deadline is not None and args.pass_deadline <= 0:
        parser.error("--pass-deadline must be more than 0")
    if args.stuck_exit < 0:
        parser.error("--stuck-exit must be 0 (never) or more")
    if bool(args.tls_cert) != bool(args.tls_key) or (args.tls_client_ca and not args.tls_cert):
        parser.error("--tls-cert and --tls-key go together; --tls-client-ca needs them")
    return args


def _stop_when_orphaned(stop: threading.Event) -> None:
    """A parent that dies without stopping us (SIGKILL, a crash) re-parents us: stop then."""
    parent = os.getppid()

    def watch() -> None:
        while not stop.wait(PARENT_CHECK_S):
            if os.getppid() != parent:
                stop.set()
                log("parent_gone", level="warning", parent_pid=parent)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _exit_when_stuck(pool: StreamPool, bound_s: float, stop: threading.Event) -> None:
    """Exits the process once the pool has served nothing for bound_s seconds (its engine stuck).

    A pass that never returns (a hung GPU kernel or driver) holds the engine for
    good: the worker would stay up refusing every stream while its supervisor's
    probe (a TCP connect) kept passing. Exiting lets that supervisor (the node,
    Kubernetes, compose) start a fresh process, and a fresh CUDA context."""
    interval = min(STUCK_CHECK_S, bound_s / 4)

    def watch() -> None:
        since: float | None = None  # when the pool was first seen unavailable, this time
        while not stop.wait(interval):
            why = pool.unavailable
            now = time.monotonic()
            if why is None:
                since = None  # the engine answered (engine_recovered): the count starts over
                continue
            since = now if since is None else since
            if now - since < bound_s:
                continue
            # The exit must not hang on the log line itself (stderr a full pipe).
            threading.Timer(2.0, os._exit, (EXIT_ENGINE_STUCK,)).start()
            log(
                "engine_stuck_exit",
                level="error",
                stuck_s=round(now - since, 1),
                stuck_exit_s=bound_s,
                exit_code=EXIT_ENGINE_STUCK,
                reason=why,
            )
            sys.stdout.flush()  # log() flushed stderr already
            # os._exit, not sys.exit (which would end this thread only) nor the graceful
            # stop of SIGTERM: the stuck pass's thread is inside a native call that does
            # not return, and a normal exit waits for threads (pool.close joins the
            # scheduler's, shutdown joins the gRPC executor's) and runs atexit handlers
            # (the CUDA runtime's teardown may wait on the hung device): the process
            # could hang on its way out. The open streams failed already (engine_stuck);
            # the bridge sees the connection close.
            os._exit(EXIT_ENGINE_STUCK)

    threading.Thread(target=watch, name="stuck-exit", daemon=True).start()


def build_server(pool: StreamPool, worker_id: str, token: str = "") -> grpc.Server:
    """The gRPC server of a pool's SpeechRecognizer, without a port yet (tests bind one of their own)."""
    # One thread per stream plus a few for GetWorkerInfo and for refusing
    # streams beyond the limit; grpc refuses calls beyond that itself.
    threads = pool.size + 4
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="grpc"),
        interceptors=[TokenAuth(token)] if token else [],
        maximum_concurrent_rpcs=threads,
        options=SERVER_OPTIONS,
    )
    asr_pb2_grpc.add_SpeechRecognizerServicer_to_server(SpeechRecognizer(pool, worker_id), server)
    return server


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logmod.configure(worker_id=args.worker_id)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.set())
    if args.exit_with_parent:
        _stop_when_orphaned(stop)

    options = {
        "model_path": args.model_path or "",
        "device": args.device or "",
        "dtype": args.dtype or "",
        "max_batch": str(args.max_batch or ""),
        "cuda_graphs": "0" if args.no_cuda_graphs else "1",
        "stats_interval": str(args.stats_interval or ""),
        "pass_deadline": str(args.pass_deadline or ""),
    }
    try:
        pool = open_pool(args.engine, args.max_streams, options)
        pool.wait_ready()
    except Exception as exc:  # a missing model, a broken engine: say why, never listen
        log("engine_start_failed", level="error", engine=args.engine, error=f"{type(exc).__name__}: {exc}")
        print(f"parley_asr: cannot start the {args.engine} engine: {exc}", file=sys.stderr, flush=True)
        return 2
    token = os.environ.get("ASR_AUTH_TOKEN", "")
    server = build_server(pool, args.worker_id, token)
    address = f"{args.host}:{args.port}"
    if args.tls_cert:
        port = server.add_secure_port(address, server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca))
    else:
        port = server.add_insecure_port(address)
    if port == 0:
        log("bind_failed", level="error", host=args.host, port=args.port)
        pool.close()
        return 1
    server.start()
    log(
        "listening",
        host=args.host,
        port=port,
        engine=args.engine,
        max_streams=pool.size,
        tls=bool(args.tls_cert),
        auth=bool(token),
    )
    print(f"LISTENING {port}", flush=True)
    if args.stuck_exit > 0:
        _exit_when_stuck(pool, args.stuck_exit, stop)

    stop.wait()
    log("stopping", grace_s=STOP_GRACE_S, active_streams=pool.active)
    server.stop(STOP_GRACE_S).wait()
    pool.close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
