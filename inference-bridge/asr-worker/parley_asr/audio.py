"""Reading 16 kHz mono s16le test recordings (WAV or headerless raw)."""

from __future__ import annotations

import wave

SAMPLE_RATE = 16000


def read_pcm(path: str) -> bytes:
    if not path.lower().endswith(".wav"):
        with open(path, "rb") as f:
            return f.read()  # raw s16le, 16 kHz mono assumed
    with wave.open(path, "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise ValueError(
                f"{path}: need 16 kHz mono 16-bit, got {w.getframerate()} Hz, "
                f"{w.getnchannels()} ch, {8 * w.getsampwidth()} bit (resample: sox in.wav -r 16000 -c 1 -b 16 out.wav)"
            )
        return w.readframes(w.getnframes())
