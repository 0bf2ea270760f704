#!/usr/bin/env bash
# Regenerates TypeScript (protoc-gen-es, target=ts) into src/gen and the
# Python stubs of the speech worker. Uses Debian's protoc; no network.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf src/gen
mkdir -p src/gen
protoc -I proto -I /usr/include \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out=src/gen --es_opt=target=ts,import_extension=ts \
  $(find proto -name '*.proto' | sort)

# The Python speech worker's stubs, from the same contract.
bash ../inference-bridge/asr-worker/generate.sh >/dev/null
