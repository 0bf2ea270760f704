#!/usr/bin/env bash
# The whole test suite: generated code is up to date, lint, types, then every
# Vitest test (unit, real mediasoup + speech worker, real browser).
#
# WebRTC tests keep ICE on loopback: as root, the suite runs inside a fresh
# network namespace that has only `lo` (nothing else to gather or leak to).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

# Install first, with the machine's network (apt, pnpm and pip need it);
# only the tests run inside the loopback-only namespace. The suite tests the
# Whisper engine too (on CPU, a tiny random-weight model), so the speech
# worker's environment gets its requirements (torch: ~45 s once, from the pip
# mirror); `pnpm start` alone does not install them.
export PARLEY_WHISPER=${PARLEY_WHISPER:-1}
if [[ -z ${PARLEY_IN_NETNS:-} ]]; then
  bash scripts/install.sh
  if [[ $(id -u) -eq 0 ]] && unshare -n true 2>/dev/null; then
    # shellcheck disable=SC2016 # "$0" "$@" are expanded by the inner bash
    exec env PARLEY_IN_NETNS=1 unshare -n bash -c 'ip link set lo up && exec bash "$0" "$@"' "$0" "$@"
  fi
fi

echo "== generated code is current"
pnpm --silent generate
if ! git diff --quiet -- proto/src/gen inference-bridge/asr-worker/parley_asr/gen; then
  git --no-pager diff --stat -- proto/src/gen inference-bridge/asr-worker/parley_asr/gen
  echo "generated code is out of date: run 'pnpm generate' and commit" >&2
  exit 1
fi

echo "== lint"
pnpm --silent lint
pnpm --silent lint:py

echo "== typecheck"
pnpm --silent typecheck

echo "== tests"
status=0
pnpm exec vitest run --reporter=default --reporter=json --outputFile=test-results/vitest.json "$@" || status=$?
# One plain closing line for CI: "N passed, N failed, N skipped".
# shellcheck disable=SC2016 # a JavaScript template string, not shell
node -e '
  const r = JSON.parse(require("fs").readFileSync("test-results/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
