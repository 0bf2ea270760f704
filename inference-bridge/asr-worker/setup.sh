#!/usr/bin/env bash
# Create .venv and install the pinned requirements. Idempotent: a stamp file
# holding the hash of requirements.txt (and the interpreter version) lets a
# second run exit immediately.
#
# PARLEY_WHISPER=1 also installs the Whisper engine (torch, transformers:
# requirements-whisper.txt, its own stamp); the default install stays
# pocketsphinx-only, and a later plain run leaves an installed engine alone.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want="$( { sha256sum requirements.txt requirements-dev.txt; "$PYTHON" --version; } 2>&1 | sha256sum | cut -d' ' -f1)"

WHISPER_STAMP="$VENV/.whisper.sha256"
want_whisper="$( { sha256sum requirements-whisper.txt; "$PYTHON" --version; } 2>&1 | sha256sum | cut -d' ' -f1)"

install_whisper() {
  [[ ${PARLEY_WHISPER:-0} == 1 ]] || return 0
  if [[ -f "$WHISPER_STAMP" && "$(cat "$WHISPER_STAMP")" == "$want_whisper" ]]; then
    echo "asr-worker: whisper engine up to date"
    return 0
  fi
  "$VENV/bin/pip" install --disable-pip-version-check --retries 1 --no-deps -r requirements-whisper.txt
  "$VENV/bin/python" -c 'import torch, transformers.models.whisper.modeling_whisper, tokenizers, safetensors'
  echo "$want_whisper" > "$WHISPER_STAMP"
  echo "asr-worker: whisper engine ready"
}

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  echo "asr-worker: .venv up to date"
  install_whisper
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
install_whisper
