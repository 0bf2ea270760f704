"""`--engine whisper`: streaming Whisper behind one batch scheduler.

All streams of the worker share one model in the server process: the
scheduler (`parley_asr.scheduler`) batches their passes, `WhisperRunner`
runs them. At start-up the engine loads the model (a missing or broken one
stops the worker with a clear message), warms it up and measures one full
batch; unless --max-streams is given, the admission bound follows from that
measurement (see README: "Capacity model").
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from ..engine import Engine, EngineStream, StreamSettings
from ..log import log
from ..scheduler import BatchScheduler, SchedulerSettings, Window
from .languages import WHISPER_LANGUAGES
from .model import load
from .runner import RunnerSettings, WhisperRunner

SAMPLE_RATE = 16000
# A pass may run this long at least before the engine counts as stuck (GPU passes
# take well under a second; a deadline this far above them is no false alarm).
MIN_PASS_DEADLINE_S = 10.0


@dataclass(frozen=True)
class Capacity:
    """One measured full batch, and the stream bound it implies."""

    batch: int
    window_s: float
    encoder_s: float
    decoder_s: float
    update_s: float
    utilisation: float  # share of the accelerator's time admission plans to use
    speaking: float  # share of streams assumed to be in speech at once

    @property
    def per_pass_s(self) -> float:
        return (self.encoder_s + self.decoder_s) / self.batch

    def longest_pass_s(self, max_batch: int, max_window_s: float) -> float:
        """The cost of the biggest pass the scheduler makes: `max_batch` windows of
        `max_window_s` (cost grows about linearly with both)."""
        return self.per_pass_s * max_batch * max_window_s / self.window_s

    def pass_deadline_s(self, max_batch: int, max_window_s: float) -> float:
        """Three times the biggest pass, at least MIN_PASS_DEADLINE_S: past it the engine is stuck
        (a busy machine slows passes down; a false alarm would fail every stream)."""
        return max(MIN_PASS_DEADLINE_S, 3 * self.longest_pass_s(max_batch, max_window_s))

    @property
    def max_streams(self) -> int:
        # Each speaking stream needs one pass per update_s.
        return max(1, math.floor(self.utilisation * self.update_s / (self.per_pass_s * self.speaking)))


def measure(
    runner: WhisperRunner, batch: int, window_s: float, update_s: float, utilisation: float, speaking: float
) -> Capacity:
    """Times one batch of `batch` windows of `window_s` (speech-like noise;
    decoding runs to the token cap, the most a pass can cost)."""
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal(int(window_s * SAMPLE_RATE)) * 3000).astype(np.int16)
    windows = [Window(i, audio, 0, "en", "") for i in range(batch)]
    runner.transcribe(windows)  # warm-up: allocator, kernels, CUDA graph capture
    started = time.monotonic()
    result = runner.transcribe(windows)
    if time.monotonic() - started <= 0:
        raise RuntimeError("calibration took no time")
    return Capacity(
        batch=batch,
        window_s=window_s,
        encoder_s=result.encoder_s,
        decoder_s=result.decoder_s,
        update_s=update_s,
        utilisation=utilisation,
        speaking=speaking,
    )


class WhisperEngine(Engine):
    name = "whisper"
    # Replaced by the loaded tokenizer's languages at start-up (open_batched).
    languages: tuple[str, ...] = WHISPER_LANGUAGES
    batched = True

    @classmethod
    def open_batched(cls, max_streams: int | None, options: dict[str, str]) -> BatchScheduler:
        import torch

        device = options.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = options.get("dtype") or ("bfloat16" if device.startswith("cuda") else "float32")
        if not device.startswith("cuda"):
            # One intra-op thread: on a CPU shared with other work, OpenMP's
            # spinning threads measured 10-50x slower than one thread.
            torch.set_num_threads(int(options.get("threads") or 1))
        loaded = load(options.get("model_path"), device, dtype)
        cls.languages = loaded.languages
        scheduler_settings = SchedulerSettings(
            max_batch=int(options.get("max_batch") or 64), stats_interval_s=float(options.get("stats_interval") or 10.0)
        )
        runner = WhisperRunner(
            loaded,
            RunnerSettings(
                max_window_s=scheduler_settings.max_window_s, cuda_graphs=options.get("cuda_graphs", "1") != "0"
            ),
        )
        started = time.monotonic()
        capacity = measure(
            runner,
            batch=min(scheduler_settings.max_batch, 64 if device != "cpu" else 4),
            window_s=4.0,
            update_s=scheduler_settings.update_s,
            utilisation=float(options.get("utilisation") or 0.7),
            speaking=float(options.get("speaking") or 1.0),
        )
        bound = max_streams or capacity.max_streams
        # The biggest batch holds a window of every admitted stream, at most max_batch.
        deadline_s = float(options.get("pass_deadline") or 0) or capacity.pass_deadline_s(
            min(scheduler_settings.max_batch, bound), scheduler_settings.max_window_s
        )
        scheduler_settings = replace(scheduler_settings, pass_deadline_s=deadline_s)
        log(
            "whisper_ready",
            model=loaded.path,
            device=device,
            dtype=dtype,
            languages=len(loaded.languages),
            cuda_graphs=runner.graphs is not None and runner.graphs.failed is None,
            warm_up_s=round(time.monotonic() - started, 2),
            calibration_batch=capacity.batch,
            calibration_window_s=capacity.window_s,
            encoder_ms=round(capacity.encoder_s * 1000, 1),
            decoder_ms=round(capacity.decoder_s * 1000, 1),
            per_pass_ms=round(capacity.per_pass_s * 1000, 2),
            measured_max_streams=capacity.max_streams,
            max_streams=bound,
            pass_deadline_s=round(deadline_s, 1),
        )
        return BatchScheduler(runner, cls.name, bound, scheduler_settings)

    def new_stream(self, settings: StreamSettings) -> EngineStream:
        raise NotImplementedError("whisper streams are opened through the batch scheduler (open_batched)")
