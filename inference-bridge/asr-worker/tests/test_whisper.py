"""The Whisper runner on a tiny random-weight model saved in the Hugging Face
layout (parley_asr.whisper.synthetic): loading, the cut encoder and the batched
static-cache decoder against transformers' own forward passes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from parley_asr.scheduler import Window
from parley_asr.whisper.model import LoadedModel, ModelError, load
from parley_asr.whisper.runner import WhisperRunner
from parley_asr.whisper.synthetic import write_model

S = 16000
HERE = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.set_num_threads(1)
    return write_model(str(tmp_path_factory.mktemp("tiny-whisper")), "tiny", seed=0)


@pytest.fixture(scope="module")
def loaded(model_dir: str) -> LoadedModel:
    return load(model_dir, "cpu", "float32")


def audio(seconds: float, seed: int) -> np.ndarray[Any, Any]:
    return (np.random.default_rng(seed).standard_normal(int(seconds * S)) * 3000).astype(np.int16)


def test_loads_a_hugging_face_folder(loaded: LoadedModel) -> None:
    assert {"en", "sv"} <= set(loaded.languages)
    assert loaded.model.config.model_type == "whisper"


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("unset", "WHISPER_MODEL_PATH"),
        ("missing", "does not exist"),
        ("no-config", "no config.json"),
        ("not-whisper", "not a Whisper model"),
        ("no-weights", "no weights"),
        ("broken-weights", "cannot load the Whisper weights"),
        ("no-tokenizer", "no tokenizer"),
    ],
)
def test_a_missing_or_broken_model_is_a_clear_error(
    model_dir: str, tmp_path: Path, breakage: str, message: str
) -> None:
    broken = tmp_path / "model"
    shutil.copytree(model_dir, broken)
    path: str | None = str(broken)
    if breakage == "unset":
        path = None
    elif breakage == "missing":
        path = str(tmp_path / "nowhere")
    elif breakage == "no-config":
        (broken / "config.json").unlink()
    elif breakage == "not-whisper":
        config = json.loads((broken / "config.json").read_text())
        (broken / "config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    elif breakage == "no-weights":
        (broken / "model.safetensors").unlink()
    elif breakage == "broken-weights":
        (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    elif breakage == "no-tokenizer":
        (broken / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=message):
        load(path, "cpu", "float32")


def test_the_cut_encoder_is_whispers_encoder_on_a_full_window(loaded: LoadedModel) -> None:
    """At 30 s the cut positional table is the whole table: both must agree."""
    from transformers import WhisperFeatureExtractor

    runner = WhisperRunner(loaded)
    pcm = audio(30.0, 1)
    features = WhisperFeatureExtractor.from_pretrained(loaded.path)(
        pcm.astype(np.float32) / 32768, sampling_rate=S, return_tensors="pt"
    )
    with torch.inference_mode():
        reference = loaded.model.model.encoder(features.input_features).last_hidden_state
        ours = runner.encode([pcm], 30 * S)
    assert ours.shape == reference.shape == (1, 1500, loaded.model.config.d_model)
    torch.testing.assert_close(ours, reference, atol=2e-3, rtol=1e-3)


def test_a_short_window_costs_a_short_encoder_pass(loaded: LoadedModel) -> None:
    runner = WhisperRunner(loaded)
    with torch.inference_mode():
        assert runner.encode([audio(2.3, 2)], runner.window_samples(int(2.3 * S))).shape[1] == 150  # 3 s, not 30


def reference_greedy(
    loaded: LoadedModel, runner: WhisperRunner, encoded: Any, prompt: list[int], steps: int
) -> list[int]:
    """transformers' decoder forward, no cache, one step at a time."""
    ids = list(prompt)
    out: list[int] = []
    for _ in range(steps):
        with torch.inference_mode():
            logits = loaded.model(encoder_outputs=(encoded[None],), decoder_input_ids=torch.tensor([ids])).logits
        token = int((logits[0, -1].float() + runner._bias).argmax())
        if token == runner.eot:
            break
        out.append(token)
        ids.append(token)
    return out


def test_batched_static_cache_decoding_matches_transformers(loaded: LoadedModel) -> None:
    """Rows of different window lengths and prompt lengths (left padding,
    per-row positions and masks) decode exactly as each alone through
    transformers' own forward pass."""
    runner = WhisperRunner(loaded)
    windows = [
        Window(0, audio(1.5, 3), 0, "en", ""),
        Window(1, audio(3.2, 4), 0, "sv", "the coffee was cold but the bread was fresh"),
    ]
    with torch.inference_mode():
        encoded = runner._encode_all(windows)
        prompts = [runner._prompt(w) for w in windows]
        tokens, probs, positions = runner._decode(encoded, prompts, [12, 12])
    assert len(prompts[0]) != len(prompts[1])
    for row in range(2):
        assert tokens[row] == reference_greedy(loaded, runner, encoded[row], prompts[row], 12)
        assert len(probs[row]) == len(positions[row]) == len(tokens[row])
        assert positions[row] == sorted(positions[row]), "word times never go backwards"


def test_words_carry_times_inside_their_window(loaded: LoadedModel) -> None:
    runner = WhisperRunner(loaded)
    window = Window(0, audio(3.0, 5), 5 * S, "en", "")
    words = runner.transcribe([window]).hypotheses[0]
    assert words
    for w in words:
        assert 5 * S <= w.start <= w.end <= 8 * S and w.text and 0 < w.confidence <= 1


def test_the_worker_refuses_to_start_without_a_model(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WHISPER_MODEL_PATH"}
    run = subprocess.run(
        [sys.executable, "-m", "parley_asr", "--engine", "whisper", "--model-path", str(tmp_path / "nowhere")],
        cwd=HERE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "LISTENING" not in run.stdout
    assert "cannot start the whisper engine" in run.stderr and "does not exist" in run.stderr
