#!/usr/bin/env bash
# Regenerates TypeScript (protoc-gen-es, target=ts) into src/gen and the
# Python stubs of the speech worker. Uses Debian's protoc; no network.
#
# Atomic: protoc writes into a temporary folder that replaces src/gen only
# when generation succeeded, so a failing protoc never removes the committed
# generated code.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d src/.gen.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The well-known types (google/protobuf/struct.proto) come from Debian's
# libprotobuf-dev, installed by scripts/install.sh.
mapfile -t protos < <(find proto -name '*.proto' | sort)
protoc -I proto -I /usr/include \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out="$tmp" --es_opt=target=ts,import_extension=ts \
  "${protos[@]}"
rm -rf src/gen.old
[[ -d src/gen ]] && mv src/gen src/gen.old
mv "$tmp" src/gen
rm -rf src/gen.old

# The Python speech worker's stubs, from the same contract.
bash ../inference-bridge/asr-worker/generate.sh >/dev/null
