"""Offline reference transcription: each file decoded whole, in one pass.

    python -m parley_asr.offline [--engine pocketsphinx] FILE...

prints {"<path>": "<text>", ...}. Same engine configuration as the server,
so the difference to streaming results is the cost of streaming alone.
"""

from __future__ import annotations

import argparse
import json
import sys

from .audio import read_pcm
from .engine import ENGINES, engine_class


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parley_asr.offline", description=__doc__.split("\n")[0])
    parser.add_argument("--engine", default="pocketsphinx", choices=sorted(ENGINES))
    parser.add_argument("files", nargs="+", metavar="FILE", help="16 kHz mono WAV, or raw s16le")
    args = parser.parse_args(argv)
    engine = engine_class(args.engine)()
    result = {path: engine.decode_whole(read_pcm(path)) for path in args.files}
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
