#!/usr/bin/env bash
# Starts one Parley node with embedded defaults: mediasoup workers, the uWS
# edge with the customer app, the bridge and a local CPU speech worker.
# Open http://localhost:8080/?store=demo
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
bash scripts/install.sh
cd signaling
exec node --import tsx src/main.ts
