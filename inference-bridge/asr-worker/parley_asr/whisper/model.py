"""Loading a Whisper checkpoint from a local folder in the Hugging Face layout.

The folder (WHISPER_MODEL_PATH, or --model-path) is what `save_pretrained`
writes and what a model repository holds: config.json, the weights
(model.safetensors, sharded with an index, or pytorch_model.bin), the
tokenizer (tokenizer.json, or vocab.json + merges.txt) and
preprocessor_config.json. Nothing is ever downloaded: every load is
`local_files_only` with the hub offline. Whatever is missing or broken stops
the worker at start-up with a `ModelError` that names the folder and the part.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from .languages import WHISPER_LANGUAGES

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
REQUIRED_TOKENS = ("<|endoftext|>", "<|startoftranscript|>", "<|transcribe|>", "<|notimestamps|>", "<|startofprev|>")


class ModelError(Exception):
    """The configured Whisper model cannot be used: the worker must not start."""


@dataclass
class LoadedModel:
    model: Any  # transformers.WhisperForConditionalGeneration, in eval mode on its device
    tokenizer: Any  # a transformers Whisper tokenizer
    mel_filters: Any  # numpy (n_fft // 2 + 1, n_mels)
    n_fft: int
    hop_length: int
    languages: tuple[str, ...]  # codes with a language token, Whisper's order
    path: str


def check_folder(path: str | None) -> str:
    """The folder's layout, checked before any library is asked to read it."""
    if not path:
        raise ModelError(
            "no Whisper model configured: set WHISPER_MODEL_PATH (or --model-path) to a local folder "
            "in the Hugging Face layout (config.json, model.safetensors, tokenizer.json, "
            "preprocessor_config.json); models are never downloaded"
        )
    if not os.path.isdir(path):
        raise ModelError(f"Whisper model folder {path!r} does not exist")
    config_path = os.path.join(path, "config.json")
    try:
        with open(config_path) as f:
            config = json.load(f)
    except FileNotFoundError:
        raise ModelError(f"{path!r} has no config.json: not a Hugging Face model folder") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"{config_path!r} is not readable JSON: {exc}") from exc
    if not isinstance(config, dict) or config.get("model_type") != "whisper":
        kind = config.get("model_type") if isinstance(config, dict) else None
        raise ModelError(f"{path!r} holds a {kind!r} model, not a Whisper model (config.json model_type)")
    if not any(os.path.exists(os.path.join(path, name)) for name in WEIGHT_FILES):
        raise ModelError(f"{path!r} has no weights ({', '.join(WEIGHT_FILES)})")
    has_tokenizer = os.path.exists(os.path.join(path, "tokenizer.json")) or all(
        os.path.exists(os.path.join(path, name)) for name in ("vocab.json", "merges.txt")
    )
    if not has_tokenizer:
        raise ModelError(f"{path!r} has no tokenizer (tokenizer.json, or vocab.json and merges.txt)")
    if not os.path.exists(os.path.join(path, "preprocessor_config.json")):
        raise ModelError(f"{path!r} has no preprocessor_config.json (the feature extractor's settings)")
    return path


def load(path: str | None, device: str, dtype_name: str) -> LoadedModel:
    folder = check_folder(path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # belt and braces: local_files_only below
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoTokenizer, WhisperFeatureExtractor, WhisperForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    dtype = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype_name]
    try:
        model = WhisperForConditionalGeneration.from_pretrained(
            folder, local_files_only=True, dtype=dtype, attn_implementation="sdpa"
        )
    except Exception as exc:
        raise ModelError(f"cannot load the Whisper weights in {folder!r}: {type(exc).__name__}: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        features = WhisperFeatureExtractor.from_pretrained(folder, local_files_only=True)
    except Exception as exc:
        raise ModelError(
            f"cannot load the tokenizer or feature extractor in {folder!r}: {type(exc).__name__}: {exc}"
        ) from exc
    vocab = tokenizer.get_vocab()
    missing = [t for t in REQUIRED_TOKENS if t not in vocab]
    if missing:
        raise ModelError(f"the tokenizer in {folder!r} lacks Whisper's special tokens {missing}")
    languages = tuple(code for code in WHISPER_LANGUAGES if f"<|{code}|>" in vocab)
    if "en" not in languages or "sv" not in languages:
        raise ModelError(
            f"the model in {folder!r} is not multilingual (no <|en|> or <|sv|> token): Parley needs Swedish and English"
        )
    if features.feature_size != model.config.num_mel_bins:
        raise ModelError(
            f"preprocessor_config.json has {features.feature_size} mel bins, the model {model.config.num_mel_bins}"
        )
    model.eval()
    model.to(device)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        mel_filters=features.mel_filters,
        n_fft=features.n_fft,
        hop_length=features.hop_length,
        languages=languages,
        path=folder,
    )
