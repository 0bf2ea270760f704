"""Whisper folders with random weights, in the Hugging Face layout.

    python -m parley_asr.whisper.synthetic OUT_DIR [--shape tiny|large-v3-turbo|large-v3] [--seed N]

No Whisper weights can be downloaded where Parley is built and tested, so the
tests (and the benchmarks) write a model of the right *shape* with random
weights: `WhisperConfig` + `save_pretrained`, a byte-level BPE tokenizer
trained offline with the `tokenizers` library on a few sentences, and the
feature extractor's settings. The worker then loads the folder through the
same code path as a real checkpoint (`parley_asr.whisper.model.load`).

Random weights transcribe nothing meaningful, but the cost of every pass does
not depend on the weights' values: the `large-v3-turbo` shape measures the
throughput of the real model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from .languages import SPECIAL_TOKENS


@dataclass(frozen=True)
class Shape:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    heads: int
    ffn: int
    mels: int
    vocab_size: int  # 0: the synthetic tokenizer's size


SHAPES = {
    # A few layers: loads and runs in well under a second on a CPU.
    "tiny": Shape(d_model=64, encoder_layers=2, decoder_layers=2, heads=4, ffn=128, mels=80, vocab_size=0),
    # openai/whisper-large-v3-turbo and openai/whisper-large-v3 (config.json of the published checkpoints)
    "large-v3-turbo": Shape(
        d_model=1280, encoder_layers=32, decoder_layers=4, heads=20, ffn=5120, mels=128, vocab_size=51866
    ),
    "large-v3": Shape(
        d_model=1280, encoder_layers=32, decoder_layers=32, heads=20, ffn=5120, mels=128, vocab_size=51866
    ),
}

# Training text of the synthetic tokenizer (English and Swedish: the market).
CORPUS = (
    "the service was quick and the staff were friendly",
    "i waited a long time at the checkout and nobody helped me",
    "the coffee was cold but the bread was fresh and good",
    "he was a young man of good family and fortune",
    "thank you for asking i will come back next week",
    "personalen var trevlig och kaffet var gott",
    "jag fick vänta länge i kassan och ingen hjälpte mig",
    "butiken var ren men det fanns inga kundvagnar kvar",
    "tack för att du frågade jag kommer tillbaka nästa vecka",
    "priserna var höga men kvaliteten var bra",
)


def build_tokenizer(out_dir: str, vocab_size: int = 600) -> int:
    """Trains a byte-level BPE (GPT-2 style, like Whisper's) and saves it with
    Whisper's special tokens as a `WhisperTokenizer`. Returns its size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import WhisperTokenizer

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(  # type: ignore[no-untyped-call]  # tokenizers stubs leave it untyped
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    # Words are preceded by a space in running text, as Whisper sees them.
    bpe.train_from_iterator([" " + line for line in CORPUS for _ in range(3)], trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    tokenizer = WhisperTokenizer(vocab=model["vocab"], merges=merges)
    tokenizer.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS[1:])})
    tokenizer.save_pretrained(out_dir)
    return len(tokenizer)


def write_model(out_dir: str, shape_name: str = "tiny", seed: int = 0) -> str:
    """Writes a complete Whisper folder (config, weights, tokenizer, feature extractor) into out_dir."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration, WhisperTokenizer

    shape = SHAPES[shape_name]
    os.makedirs(out_dir, exist_ok=True)
    tokens = build_tokenizer(out_dir)
    tokenizer = WhisperTokenizer.from_pretrained(out_dir)
    eot, sot = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|startoftranscript|>"])
    config = WhisperConfig(
        vocab_size=shape.vocab_size or tokens,
        num_mel_bins=shape.mels,
        d_model=shape.d_model,
        encoder_layers=shape.encoder_layers,
        decoder_layers=shape.decoder_layers,
        encoder_attention_heads=shape.heads,
        decoder_attention_heads=shape.heads,
        encoder_ffn_dim=shape.ffn,
        decoder_ffn_dim=shape.ffn,
        max_source_positions=1500,
        max_target_positions=448,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    torch.manual_seed(seed)
    if shape_name == "tiny":
        model = WhisperForConditionalGeneration(config)
    else:
        # Hundreds of millions of parameters: skip the slow per-module init;
        # throughput does not depend on the values.
        with torch.device("meta"):
            model = WhisperForConditionalGeneration(config)
        model = model.to_empty(device="cpu").to(torch.float16)
        with torch.no_grad():
            for param in model.parameters():
                param.normal_(0.0, 0.02)
    model.save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=shape.mels).save_pretrained(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_asr.whisper.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_model(args.out_dir, args.shape, args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
