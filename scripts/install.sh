#!/usr/bin/env bash
# Everything Parley needs on a fresh Debian 12 machine, idempotent:
# Debian packages, pnpm dependencies, the speech worker's Python environment,
# the mediasoup worker binary and the builds of the customer app and the dashboards.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { printf '[install] %s\n' "$*" >&2; }

# Debian packages: the browser for end-to-end tests, test recordings, TTS
# (flite for English, espeak-ng for the stores' other languages),
# Redis for the cross-node tests, PostgreSQL 15 (initdb/pg_ctl start the
# throwaway clusters of the tests), audio tools (sox, opusenc), protoc, the
# toolchain for the mediasoup worker, and the tools that validate deploy/
# without a Docker engine (promtool, amtool, docker-compose config, the
# shell linter, caddy validate). scripts/debian-uses.txt lists what is used.
PACKAGES=(chromium pocketsphinx-testdata flite espeak-ng sox protobuf-compiler libprotobuf-dev redis-server iproute2 util-linux
  build-essential pkg-config libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev
  libflatbuffers-dev flatbuffers-compiler python3-venv
  postgresql-15 prometheus prometheus-alertmanager docker-compose shellcheck caddy opus-tools openssl)
missing=()
for p in "${PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v pnpm >/dev/null; then
  log "installing pnpm"
  npm install -g pnpm@10.34.9 >/dev/null
fi

log "pnpm install"
pnpm install --frozen-lockfile --reporter=silent

log "speech worker environment"
bash inference-bridge/asr-worker/setup.sh >&2

log "mediasoup worker"
bash scripts/build-mediasoup-worker.sh >/dev/null

log "customer app"
pnpm --filter @parley/client build >/dev/null
log "dashboards (business wall, admin monitor)"
pnpm --filter @parley/dashboard build >/dev/null
log "done"
