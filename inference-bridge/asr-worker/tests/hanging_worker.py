"""A real speech worker process (the server's main: its options, its exit) whose
engine's first pass hangs: run by test_stuck_engine.py.

    python -m tests.hanging_worker --engine hanging-test --port 0 --pass-deadline S [--stuck-exit S]

The first pass blocks in a read of stdin, a native call that does not return
(as a hung GPU kernel's would), until the test writes a byte; later passes
answer at once, with no words.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from parley_asr.engine import ENGINES, Engine
from parley_asr.pool import StreamPool
from parley_asr.scheduler import BatchResult, BatchScheduler, SchedulerSettings, Window
from parley_asr.server import main


class FirstPassHangs:
    def __init__(self) -> None:
        self._hung = False

    def transcribe(self, windows: Sequence[Window]) -> BatchResult:
        if not self._hung:
            self._hung = True
            os.read(sys.stdin.fileno(), 1)
        return BatchResult([[] for _ in windows])

    def memory_bytes(self) -> int:
        return 0


class HangingTestEngine(Engine):
    name = "hanging-test"
    languages = ("en",)
    batched = True

    @classmethod
    def open_batched(cls, max_streams: int | None, options: dict[str, str]) -> StreamPool:
        settings = SchedulerSettings(pass_deadline_s=float(options["pass_deadline"]), finish_timeout_s=20)
        return BatchScheduler(FirstPassHangs(), cls.name, max_streams or 4, settings)


if __name__ == "__main__":
    ENGINES[HangingTestEngine.name] = f"__main__:{HangingTestEngine.__name__}"
    sys.exit(main(sys.argv[1:]))
