"""Where a worker's streams run: the two structures behind one interface.

- Process per stream (`workers.ProcessPool`): engines that hold Python's lock
  while they decode (pocketsphinx). Each stream leases a process.
- One process, many streams (`scheduler.BatchScheduler`): engines that batch
  across streams on an accelerator (Whisper). Streams share one model and one
  tick loop in the server process.

The servicer only sees `StreamPool`; `Engine.batched` picks the structure.
"""

from __future__ import annotations

from typing import Protocol

from .engine import EngineStream, StreamSettings, engine_class


class StreamPool(Protocol):
    engine_name: str
    size: int  # admission bound: one more stream gets RESOURCE_EXHAUSTED

    @property
    def active(self) -> int: ...

    @property
    def lag_ms(self) -> float:
        """Current partial lag (p95 of the last seconds); 0 where not measured."""
        ...

    @property
    def unavailable(self) -> str | None:
        """Why no stream can be served now (a stuck engine), or None. While set,
        open() raises EngineStuck and GetWorkerInfo answers UNAVAILABLE."""
        ...

    def open(self, settings: StreamSettings) -> EngineStream | None: ...

    def wait_ready(self, timeout: float = 60.0) -> None: ...

    def close(self) -> None: ...


def open_pool(engine_name: str, max_streams: int | None, options: dict[str, str]) -> StreamPool:
    """The pool for an engine; max_streams None: the engine's own bound (batched
    engines derive it from measured throughput, others get 2 per CPU)."""
    engine = engine_class(engine_name)
    if engine.batched:
        return engine.open_batched(max_streams, options)
    import os

    from .workers import ProcessPool

    return ProcessPool(engine_name, max_streams or 2 * (os.cpu_count() or 1))
