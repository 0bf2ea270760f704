#!/usr/bin/env bash
# Create .venv and install the pinned requirements. Idempotent: a stamp file
# holding the hash of requirements.txt (and the interpreter version) lets a
# second run exit immediately.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want="$( { sha256sum requirements.txt requirements-dev.txt; "$PYTHON" --version; } 2>&1 | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  echo "asr-worker: .venv up to date"
  exit 0
fi

[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
# --no-deps: pocketsphinx declares sounddevice (microphone capture only), which
# we neither need nor can rely on; everything needed is pinned explicitly.
# --retries 1: where only a local mirror is reachable, pip otherwise spends
# seconds per package retrying the unreachable default index.
"$VENV/bin/pip" install --disable-pip-version-check --retries 1 --no-deps -r requirements.txt -r requirements-dev.txt
"$VENV/bin/python" -c 'import pocketsphinx, grpc, google.protobuf, grpc_tools.protoc'
"$VENV/bin/ruff" --version >/dev/null && "$VENV/bin/mypy" --version >/dev/null
echo "$want" > "$STAMP"
echo "asr-worker: .venv ready"
