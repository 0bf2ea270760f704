"""Measures the cepstral mean the streaming engine reaches on a recording.

    .venv/bin/python measure_cmn.py [FILE...]

Streams each file (16 kHz mono WAV or raw s16le) through one PocketsphinxStream
whose decoder starts from the model's generic cmninit and prints the live mean
after the last file: a value for pocketsphinx_engine.INITIAL_CMN. Without
files it measures what INITIAL_CMN is: flite's slt voice reading "The North
Wind and the Sun" (a standard phonetically balanced passage; flite writes
16 kHz directly, so the audio is the same on every machine).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from pocketsphinx import Decoder

from parley_asr.audio import read_pcm
from parley_asr.engine import StreamSettings
from parley_asr.pocketsphinx_engine import Options, PocketsphinxStream

NORTH_WIND = (
    "The North Wind and the Sun were disputing which was the stronger, when a traveler came along wrapped in a "
    "warm cloak. They agreed that the one who first succeeded in making the traveler take his cloak off should be "
    "considered stronger than the other. Then the North Wind blew as hard as he could, but the more he blew the more "
    "closely did the traveler fold his cloak around him; and at last the North Wind gave up the attempt. Then the Sun "
    "shined out warmly, and immediately the traveler took off his cloak. And so the North Wind was obliged to confess "
    "that the Sun was the stronger of the two."
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", metavar="FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files: list[str] = args.files
        if not files:
            files = [os.path.join(tmp, "north-wind.wav")]
            subprocess.run(["flite", "-voice", "slt", "-t", NORTH_WIND, "-o", files[0]], check=True)
        print(measure(files))
    return 0


def measure(files: list[str]) -> str:
    decoder = Decoder(loglevel="FATAL")  # the model's own cmninit
    for path in files:
        stream = PocketsphinxStream(decoder, Options(), StreamSettings(path, 16000, "en-US", 0))
        pcm = read_pcm(path)
        for at in range(0, len(pcm), 640):
            stream.accept(pcm[at : at + 640], at // 2)
        stream.finish()
    mean: str = decoder.get_cmn()
    return ",".join(f"{float(v):.2f}" for v in mean.split(","))


if __name__ == "__main__":
    sys.exit(main())
