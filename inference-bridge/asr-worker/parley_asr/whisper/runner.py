"""Batched Whisper passes: one encoder pass and one greedy decode per tick.

`WhisperRunner.transcribe(windows)` is the scheduler's `HypothesisSource`.
It uses the checkpoint's modules (transformers' Whisper classes) but runs its
own forward passes, for three reasons:

- Encoder windows are cut to the audio held, not padded to 30 s: the
  positional table is cut to the window (whisper.cpp's `audio_ctx`), so the
  encoder's cost is linear in the audio actually held. Windows are padded
  with silence to `bucket_s` multiples and encoded one call per length.
- The decoder runs greedy steps for the whole batch on a static KV cache
  (left-padded prompts, per-row positions and masks): every step has the
  same shapes, so on CUDA it is captured once as a CUDA graph and replayed
  (see `DecodeGraphs`), which measured 5-10x faster than `generate()`.
- Word times come from the cross-attention of alignment heads at each step
  (argmax over encoder positions, made monotonic): no second pass.

Decoding is capped at `base_tokens + tokens_per_s * window seconds` tokens per
window, far above speech's rate (~3 tokens/s), so random weights (which never
stop by themselves) cost what the fastest real speech would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..engine import Word
from ..scheduler import BatchResult, Window
from .model import LoadedModel

SAMPLE_RATE = 16000
SECONDS_PER_POSITION = 0.02  # one encoder output position: two 10 ms mel frames

# Per window: token ids, their probabilities, the encoder position each attended to.
Decoded = tuple[list[list[int]], list[list[float]], list[list[int]]]


@dataclass(frozen=True)
class RunnerSettings:
    bucket_s: float = 1.0  # encoder windows are padded to multiples of this
    max_window_s: float = 15.0
    max_prompt_tokens: int = 64
    base_tokens: int = 8
    tokens_per_s: float = 6.0
    cuda_graphs: bool = True


class WhisperRunner:
    def __init__(self, loaded: LoadedModel, settings: RunnerSettings | None = None) -> None:
        import torch

        self.settings = s = settings or RunnerSettings()
        if s.max_window_s > 30:
            raise ValueError("max_window_s above Whisper's 30 s positional table")
        model = loaded.model
        self._torch = torch
        self._encoder = model.model.encoder
        self._decoder = model.model.decoder
        config = model.config
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        self._heads = config.decoder_attention_heads
        self._head_dim = config.d_model // self._heads
        tokenizer = loaded.tokenizer
        self._tokenizer = tokenizer
        vocab = tokenizer.get_vocab()
        self.eot = vocab["<|endoftext|>"]
        self._task = [vocab["<|transcribe|>"], vocab["<|notimestamps|>"]]
        self._sot = vocab["<|startoftranscript|>"]
        self._prev = vocab["<|startofprev|>"]
        self.language_ids = {code: vocab[f"<|{code}|>"] for code in loaded.languages}
        # Text tokens lie below <|endoftext|> in every Whisper vocabulary:
        # everything above (task, language, timestamp tokens, ids the tokenizer
        # does not have) is never sampled, nor is the checkpoint's suppress list.
        bias = torch.zeros(config.vocab_size, dtype=torch.float32)
        bias[self.eot + 1 :] = -math.inf
        for token in getattr(model.generation_config, "suppress_tokens", None) or []:
            if 0 <= token < config.vocab_size:
                bias[token] = -math.inf
        self._bias = bias.to(self.device)
        pieces = tokenizer.convert_ids_to_tokens(list(range(self.eot)))
        self._starts_word = [p is not None and p.startswith("Ġ") for p in pieces]
        self._mel_filters = torch.tensor(np.asarray(loaded.mel_filters).T, dtype=torch.float32, device=self.device)
        self._window = torch.hann_window(loaded.n_fft, device=self.device)
        self._n_fft, self._hop = loaded.n_fft, loaded.hop_length
        layers = config.decoder_layers
        heads = getattr(model.generation_config, "alignment_heads", None)
        if not heads:  # Whisper's default: every head of the upper half of the decoder
            heads = [[layer, head] for layer in range(layers // 2, layers) for head in range(self._heads)]
        self._align: dict[int, Any] = {}
        for layer in sorted({int(h[0]) for h in heads}):
            self._align[layer] = torch.tensor([int(h[1]) for h in heads if int(h[0]) == layer], device=self.device)
        self._align_count = len(heads)
        self.graphs = DecodeGraphs(self) if s.cuda_graphs and self.device.type == "cuda" else None

    # -- HypothesisSource ---------------------------------------------------------

    def transcribe(self, windows: Sequence[Window]) -> BatchResult:
        torch = self._torch
        if not windows:
            return BatchResult([])
        with torch.inference_mode():
            started = time.monotonic()
            encoded = self._encode_all(windows)
            self._sync()
            encoded_at = time.monotonic()
            prompts = [self._prompt(w) for w in windows]
            caps = [self._token_cap(w) for w in windows]
            tokens, probs, positions = self._decode(encoded, prompts, caps)
            hypotheses = [self._words(w, t, p, f) for w, t, p, f in zip(windows, tokens, probs, positions, strict=True)]
            decoded_at = time.monotonic()
        return BatchResult(hypotheses, encoder_s=encoded_at - started, decoder_s=decoded_at - encoded_at)

    def memory_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(self._torch.cuda.max_memory_allocated(self.device))
        return 0

    # -- encoder ------------------------------------------------------------------

    def window_samples(self, samples: int) -> int:
        """Padded length of a window: a whole number of buckets, at most 30 s."""
        bucket = int(self.settings.bucket_s * SAMPLE_RATE)
        return min(30 * SAMPLE_RATE, max(bucket, -(-samples // bucket) * bucket))

    def _encode_all(self, windows: Sequence[Window]) -> list[Any]:
        """Encoder states per window, [positions, d_model], one encoder call per padded length."""
        groups: dict[int, list[int]] = {}
        for i, w in enumerate(windows):
            groups.setdefault(self.window_samples(w.audio.size), []).append(i)
        out: list[Any] = [None] * len(windows)
        for samples, members in sorted(groups.items()):
            states = self.encode([windows[i].audio for i in members], samples)
            for row, i in enumerate(members):
                out[i] = states[row]
        return out

    def encode(self, audios: Sequence[np.ndarray[Any, Any]], samples: int) -> Any:
        """[batch, samples / 320, d_model]: audio padded with silence to `samples`."""
        torch = self._torch
        batch = np.zeros((len(audios), samples), dtype=np.int16)
        for row, audio in enumerate(audios):
            n = min(audio.size, samples)
            batch[row, :n] = audio[:n]
        pcm = torch.from_numpy(batch).to(self.device).float() * (1.0 / 32768.0)
        mel = self._log_mel(pcm)
        enc = self._encoder
        x = torch.nn.functional.gelu(enc.conv1(mel.to(self.dtype)))
        x = torch.nn.functional.gelu(enc.conv2(x)).permute(0, 2, 1)
        # The positional table cut to the window (whisper.cpp's audio_ctx).
        x = x + enc.embed_positions.weight[: x.shape[1]]
        for layer in enc.layers:
            x = layer(x, None)
        return enc.layer_norm(x)

    def _log_mel(self, pcm: Any) -> Any:
        """Whisper's log-mel features (as WhisperFeatureExtractor computes them), batched on the device."""
        torch = self._torch
        stft = torch.stft(pcm, self._n_fft, self._hop, window=self._window, return_complex=True)
        power = stft[..., :-1].abs() ** 2
        mel = torch.matmul(self._mel_filters, power)
        log = torch.clamp(mel, min=1e-10).log10()
        log = torch.maximum(log, log.amax(dim=(1, 2), keepdim=True) - 8.0)
        return (log + 4.0) / 4.0

    # -- decoder ------------------------------------------------------------------

    def _prompt(self, window: Window) -> list[int]:
        task = [self._sot, self.language_ids.get(window.language, self.language_ids["en"]), *self._task]
        if not window.prompt:
            return task
        ids = self._tokenizer.encode(" " + window.prompt, add_special_tokens=False)
        ids = [i for i in ids if i < self.eot][-self.settings.max_prompt_tokens :]
        return [self._prev, *ids, *task]

    def max_tokens(self) -> int:
        """The cap of the longest window."""
        s = self.settings
        return s.base_tokens + math.ceil(s.tokens_per_s * s.max_window_s)

    def _token_cap(self, window: Window) -> int:
        s = self.settings
        return s.base_tokens + math.ceil(s.tokens_per_s * window.audio.size / SAMPLE_RATE)

    def _decode(self, encoded: list[Any], prompts: list[list[int]], caps: list[int]) -> Decoded:
        """Greedy decoding of the whole batch. Returns per window: token ids,
        their probabilities, and the encoder position each token attended to."""
        batch = DecodeBatch.build(self, encoded, prompts, caps)
        first = batch.prefill()
        if self.graphs is not None:
            return self.graphs.run(batch, first)
        return batch.run_eager(first)

    def _words(self, window: Window, tokens: list[int], probs: list[float], positions: list[int]) -> list[Word]:
        """Tokens grouped into words (a piece starting with a space starts one), with times."""
        limit = window.start + window.audio.size
        words: list[Word] = []
        group: list[int] = []

        def close(next_start: int | None) -> None:
            if not group:
                return
            text = self._tokenizer.decode([tokens[k] for k in group]).strip()
            start = window.start + round(positions[group[0]] * SECONDS_PER_POSITION * SAMPLE_RATE)
            last = window.start + round((positions[group[-1]] + 5) * SECONDS_PER_POSITION * SAMPLE_RATE)
            end = next_start if next_start is not None else last
            start, end = min(start, limit), min(max(end, start), limit)
            if text:
                words.append(
                    Word(text=text, start=start, end=end, confidence=float(np.mean([probs[k] for k in group])))
                )
            group.clear()

        for k, token in enumerate(tokens):
            if group and self._starts_word[token]:
                close(window.start + round(positions[k] * SECONDS_PER_POSITION * SAMPLE_RATE))
            group.append(k)
        close(None)
        return words

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize(self.device)


class DecodeBatch:
    """Static-shape state of one batched greedy decode: cross-attention K/V of
    the encoder states, a self-attention KV cache of fixed length, left-padded
    prompts, and per-step outputs. Every step has identical shapes."""

    n: int  # windows
    b: int  # rows (windows, plus padding rows in a CUDA graph bucket)
    length: int  # self-attention cache length
    prompt_len: int
    steps: int
    cross_k: list[Any]  # per layer [rows, heads, positions, head_dim]
    cross_v: list[Any]
    cross_mask: Any  # [rows, 1, 1, positions], additive
    k_cache: Any  # [layers, rows, heads, length, head_dim]
    v_cache: Any
    prompt_ids: Any
    pad: Any  # [rows]: prompt columns that are padding
    key_ok: Any  # [rows, length]
    caps: Any
    columns: Any
    token: Any  # step input
    col: Any
    out_token: Any  # step outputs
    out_prob: Any
    out_position: Any

    def __init__(self, runner: WhisperRunner) -> None:
        self.r = runner

    @classmethod
    def build(
        cls,
        runner: WhisperRunner,
        encoded: list[Any],
        prompts: list[list[int]],
        caps: list[int],
        rows: int | None = None,
        positions: int | None = None,
    ) -> DecodeBatch:
        """rows/positions: pad the batch to these sizes (CUDA graph buckets)."""
        r = runner
        torch = r._torch
        self = cls(runner)
        dev, dt = r.device, r.dtype
        n = len(encoded)
        b = rows or n
        t = positions or max(e.shape[0] for e in encoded)
        d = encoded[0].shape[-1]
        self.n, self.b = n, b
        cross = torch.zeros(b, t, d, dtype=dt, device=dev)
        valid = torch.zeros(b, t, dtype=torch.bool, device=dev)
        for i, e in enumerate(encoded):
            cross[i, : e.shape[0]] = e
            valid[i, : e.shape[0]] = True
        valid[n:, 0] = True  # padding rows attend somewhere (no NaN)
        self.cross_mask = torch.zeros(b, 1, 1, t, dtype=dt, device=dev).masked_fill(
            ~valid[:, None, None, :], float("-inf")
        )
        h, hd = r._heads, r._head_dim
        self.cross_k, self.cross_v = [], []
        for layer in r._decoder.layers:
            attn = layer.encoder_attn
            self.cross_k.append(attn.k_proj(cross).view(b, t, h, hd).transpose(1, 2).contiguous())
            self.cross_v.append(attn.v_proj(cross).view(b, t, h, hd).transpose(1, 2).contiguous())
        self.prompt_len = p = max(len(x) for x in prompts)
        self.steps = max(caps)
        self.length = p + self.steps + 1
        layers = len(r._decoder.layers)
        self.k_cache = torch.zeros(layers, b, h, self.length, hd, dtype=dt, device=dev)
        self.v_cache = torch.zeros_like(self.k_cache)
        ids = torch.full((b, p), r.eot, dtype=torch.long, device=dev)
        pad = torch.full((b,), p - 1, dtype=torch.long, device=dev)
        for i, prompt in enumerate(prompts):
            ids[i, p - len(prompt) :] = torch.tensor(prompt, device=dev)
            pad[i] = p - len(prompt)
        self.prompt_ids, self.pad = ids, pad
        self.key_ok = torch.arange(self.length, device=dev)[None, :] >= pad[:, None]  # [b, length]
        self.caps = torch.tensor(caps + [0] * (b - n), device=dev)
        self.columns = torch.arange(self.length, device=dev)
        # per-step inputs and outputs (static buffers, for CUDA graphs)
        self.token = torch.zeros(b, dtype=torch.long, device=dev)
        self.col = torch.zeros(1, dtype=torch.long, device=dev)
        self.out_token = torch.zeros(b, dtype=torch.long, device=dev)
        self.out_prob = torch.zeros(b, dtype=torch.float32, device=dev)
        self.out_position = torch.zeros(b, dtype=torch.long, device=dev)
        return self

    @classmethod
    def padded_like(cls, batch: DecodeBatch, rows: int, positions: int) -> DecodeBatch:
        """Static buffers for a CUDA graph: `rows` rows, `positions` encoder
        positions and the longest cache any batch needs; filled by load()."""
        r = batch.r
        torch = r._torch
        self = cls(r)
        dev, dt = r.device, r.dtype
        layers, h, hd = len(r._decoder.layers), r._heads, r._head_dim
        self.n, self.b = batch.n, rows
        self.length = r.settings.max_prompt_tokens + 5 + r.max_tokens() + 1
        self.cross_mask = torch.zeros(rows, 1, 1, positions, dtype=dt, device=dev)
        self.cross_k = [torch.zeros(rows, h, positions, hd, dtype=dt, device=dev) for _ in range(layers)]
        self.cross_v = [torch.zeros_like(k) for k in self.cross_k]
        self.k_cache = torch.zeros(layers, rows, h, self.length, hd, dtype=dt, device=dev)
        self.v_cache = torch.zeros_like(self.k_cache)
        self.pad = torch.zeros(rows, dtype=torch.long, device=dev)
        self.columns = torch.arange(self.length, device=dev)
        self.key_ok = self.columns[None, :] >= self.pad[:, None]
        self.caps = torch.zeros(rows, dtype=torch.long, device=dev)
        self.token = torch.zeros(rows, dtype=torch.long, device=dev)
        self.col = torch.zeros(1, dtype=torch.long, device=dev)
        self.out_token = torch.zeros(rows, dtype=torch.long, device=dev)
        self.out_prob = torch.zeros(rows, dtype=torch.float32, device=dev)
        self.out_position = torch.zeros(rows, dtype=torch.long, device=dev)
        self.prompt_len, self.steps = batch.prompt_len, batch.steps
        return self

    def load(self, batch: DecodeBatch) -> None:
        """Copies a prefilled batch into these static buffers (in place: the
        graph holds their addresses)."""
        n, b, t, p = batch.n, batch.b, batch.cross_k[0].shape[2], batch.prompt_len
        if b > self.b or t > self.cross_k[0].shape[2] or batch.length > self.length:
            raise ValueError("batch larger than its graph bucket")
        self.n, self.prompt_len, self.steps = n, p, batch.steps
        self.cross_mask.fill_(float("-inf"))
        self.cross_mask[:, :, :, 0] = 0  # padding rows attend somewhere (no NaN)
        self.cross_mask[:b, :, :, :t] = batch.cross_mask
        for static_k, static_v, k, v in zip(self.cross_k, self.cross_v, batch.cross_k, batch.cross_v, strict=True):
            static_k[:b, :, :t] = k
            static_v[:b, :, :t] = v
        self.k_cache[:, :b, :, :p] = batch.k_cache[:, :, :, :p]
        self.v_cache[:, :b, :, :p] = batch.v_cache[:, :, :, :p]
        self.pad.fill_(p - 1)
        self.pad[:b] = batch.pad
        self.key_ok.copy_(self.columns[None, :] >= self.pad[:, None])
        self.caps.zero_()
        self.caps[:b] = batch.caps

    def prefill(self) -> tuple[Any, Any]:
        """Runs the prompts; returns the first generated token and its probability."""
        torch = self.r._torch
        p, dev = self.prompt_len, self.r.device
        positions = (torch.arange(p, device=dev)[None, :] - self.pad[:, None]).clamp(min=0)
        causal = torch.arange(p, device=dev)[None, :, None] >= torch.arange(p, device=dev)[None, None, :]
        allowed = (causal & self.key_ok[:, None, :p]) | torch.eye(p, dtype=torch.bool, device=dev)[None]
        mask = torch.zeros(allowed.shape, dtype=self.r.dtype, device=dev).masked_fill(~allowed, float("-inf"))
        x = self._layers(self.prompt_ids, positions, mask[:, None], slice(0, p), p, align=False)
        return self._pick(x[:, -1])

    def step(self) -> None:
        """One greedy step for every row: input self.token at column self.col.
        Only tensor operations on static buffers: capturable as a CUDA graph."""
        torch = self.r._torch
        positions = (self.col - self.pad).clamp(min=0)[:, None]
        allowed = self.key_ok & (self.columns[None, :] <= self.col)
        mask = torch.zeros(allowed.shape, dtype=self.r.dtype, device=self.r.device).masked_fill(~allowed, float("-inf"))
        x = self._layers(self.token[:, None], positions, mask[:, None, None, :], self.col, self.length, align=True)
        token, prob = self._pick(x[:, 0])
        self.out_token.copy_(token)
        self.out_prob.copy_(prob)

    def run_eager(self, first: tuple[Any, Any]) -> Decoded:
        return self.collect(first, lambda: self.step())

    def collect(self, first: tuple[Any, Any], step: Any) -> Decoded:
        """The greedy loop: feeds each step's token into the next, stops when
        every row produced <|endoftext|> or reached its cap."""
        torch = self.r._torch
        b, dev = self.b, self.r.device
        tokens = torch.full((b, self.steps + 1), self.r.eot, dtype=torch.long, device=dev)
        probs = torch.zeros(b, self.steps + 1, device=dev)
        positions = torch.zeros(b, self.steps + 1, dtype=torch.long, device=dev)
        token, prob = first
        tokens[:, 0], probs[:, 0] = token, prob
        done = (token == self.r.eot) | (self.caps <= 1)
        count = 1
        for k in range(1, self.steps + 1):
            if k % 4 == 1 and bool(done.all()):
                break
            self.token.copy_(tokens[:, k - 1])
            self.col.fill_(self.prompt_len + k - 1)
            step()
            positions[:, k - 1] = self.out_position  # where the input token attended
            new = torch.where(done, self.r.eot, self.out_token)
            tokens[:, k], probs[:, k] = new, self.out_prob
            done = done | (new == self.r.eot) | (self.caps <= k + 1)
            count = k + 1
        tokens_l = tokens[: self.n, :count].tolist()
        probs_l = probs[: self.n, :count].tolist()
        positions_l = torch.cummax(positions[: self.n, :count], dim=1).values.tolist()
        out_t: list[list[int]] = []
        out_p: list[list[float]] = []
        out_f: list[list[int]] = []
        for i in range(self.n):
            row = tokens_l[i]
            length = row.index(self.r.eot) if self.r.eot in row else len(row)
            out_t.append(row[:length])
            out_p.append(probs_l[i][:length])
            # A token stopped by the cap had no step of its own: cummax gave it its predecessor's position.
            out_f.append(positions_l[i][:length])
        return out_t, out_p, out_f

    def _pick(self, hidden: Any) -> tuple[Any, Any]:
        r = self.r
        logits = r._torch.nn.functional.linear(hidden, r._decoder.embed_tokens.weight).float() + r._bias
        prob, token = logits.softmax(-1).max(-1)
        return token, prob

    def _layers(self, ids: Any, positions: Any, self_mask: Any, cols: Any, keys: int, align: bool) -> Any:
        r = self.r
        torch = r._torch
        sdpa = torch.nn.functional.scaled_dot_product_attention
        dec = r._decoder
        b, q = ids.shape
        h, hd = r._heads, r._head_dim
        x = dec.embed_tokens(ids) + dec.embed_positions.weight[positions]
        align_sum = None
        for index, layer in enumerate(dec.layers):
            sa = layer.self_attn
            y = layer.self_attn_layer_norm(x)
            query = (sa.q_proj(y) * sa.scaling).view(b, q, h, hd).transpose(1, 2)
            key = sa.k_proj(y).view(b, q, h, hd).transpose(1, 2)
            value = sa.v_proj(y).view(b, q, h, hd).transpose(1, 2)
            if isinstance(cols, slice):
                self.k_cache[index, :, :, cols] = key
                self.v_cache[index, :, :, cols] = value
            else:
                self.k_cache[index].index_copy_(2, cols, key)
                self.v_cache[index].index_copy_(2, cols, value)
            attn = sdpa(
                query,
                self.k_cache[index, :, :, :keys],
                self.v_cache[index, :, :, :keys],
                attn_mask=self_mask,
                scale=1.0,
            )
            x = x + sa.out_proj(attn.transpose(1, 2).reshape(b, q, h * hd))
            ea = layer.encoder_attn
            y = layer.encoder_attn_layer_norm(x)
            query = (ea.q_proj(y) * ea.scaling).view(b, q, h, hd).transpose(1, 2)
            if align and index in r._align:
                weights = (torch.matmul(query, self.cross_k[index].transpose(-1, -2)) + self.cross_mask).float()
                weights = weights.softmax(-1)
                attn = torch.matmul(weights.to(r.dtype), self.cross_v[index])
                heads = weights[:, r._align[index], 0, :].sum(1)
                align_sum = heads if align_sum is None else align_sum + heads
            else:
                attn = sdpa(query, self.cross_k[index], self.cross_v[index], attn_mask=self.cross_mask, scale=1.0)
            x = x + ea.out_proj(attn.transpose(1, 2).reshape(b, q, h * hd))
            y = layer.final_layer_norm(x)
            x = x + layer.fc2(layer.activation_fn(layer.fc1(y)))
        if align_sum is not None:
            self.out_position.copy_(align_sum.argmax(-1))
        return dec.layer_norm(x)


class DecodeGraphs:
    """CUDA graphs of `DecodeBatch.step`, one per (rows, positions, length)
    bucket, replayed for every greedy step. A batch is padded up to its bucket
    (rows: powers of two; positions: whole `bucket_s` of encoder output).
    Falls back to eager steps, once and for good, if capture fails."""

    def __init__(self, runner: WhisperRunner) -> None:
        self.r = runner
        self._graphs: dict[tuple[int, int], tuple[Any, DecodeBatch]] = {}
        self.failed: str | None = None

    def run(self, batch: DecodeBatch, first: tuple[Any, Any]) -> Decoded:
        if self.failed is not None:
            return batch.run_eager(first)
        try:
            graph, static = self._graph_for(batch)
        except Exception as exc:  # capture is an optimisation: never fail a batch for it
            from ..log import log

            self.failed = repr(exc)
            log("cuda_graph_disabled", level="warning", error=self.failed)
            return batch.run_eager(first)
        static.load(batch)
        token, prob = first
        padded_token = static.token.new_full((static.b,), self.r.eot)
        padded_token[: batch.n] = token[: batch.n]
        padded_prob = static.out_prob.new_zeros(static.b)
        padded_prob[: batch.n] = prob[: batch.n]
        return static.collect((padded_token, padded_prob), graph.replay)

    def _graph_for(self, batch: DecodeBatch) -> tuple[Any, DecodeBatch]:
        torch = self.r._torch
        rows = 1 << max(3, (batch.b - 1).bit_length())
        positions = -(-batch.cross_k[0].shape[2] // 250) * 250  # 5 s of encoder output
        key = (rows, positions)
        if key not in self._graphs:
            static = DecodeBatch.padded_like(batch, rows, positions)
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                for _ in range(2):  # warm-up outside the graph, as capture requires
                    static.step()
            torch.cuda.current_stream().wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static.step()
            self._graphs[key] = (graph, static)
        return self._graphs[key]
