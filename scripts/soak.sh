#!/usr/bin/env bash
# Soak: the load tester against a local node for a long, bounded run, with the
# node's memory watched from its internal /metrics. Not part of `pnpm test`.
#
#   bash scripts/soak.sh                       # 20 sessions for 10 minutes
#   SOAK_SESSIONS=5 SOAK_DURATION=2m bash scripts/soak.sh
#   unshare -n bash -c 'ip link set lo up && bash scripts/soak.sh'   # as root: WebRTC on loopback only
#
# The speech worker is the benchmark-only latency probe (loadtest/src/probe):
# it recognises nothing, so the run loads the node (WebRTC, SFU, decoding,
# gRPC, scoring, the AI's turns, records) without a speech engine's compute;
# the embedded pocketsphinx worker cannot carry 20 real streams on a small
# machine. The node has one mediasoup worker and its per-IP limits raised
# (every simulated customer comes from 127.0.0.1). Its database: a throwaway
# PostgreSQL 15 cluster (Debian's postgresql-15, as deployed; SOAK_DB=postgres,
# the default) or the embedded PGlite of a plain `pnpm start` (SOAK_DB=embedded).
#
# Prints, and writes to SOAK_OUT (default loadtest-results/soak-<time>):
# errors by stage and kind, session counts, and the node's resident memory
# (process_resident_memory_bytes), V8 heap, external memory and handles
# before the load, every 30 s during it, 30 s after it and SOAK_SETTLE_S
# (180) after it, once ended sessions are let go (memory.csv); the load tester's report.json and
# report.html are there too. Each sample follows a full garbage collection
# (the node runs with --expose-gc and scripts/gc-on-signal.mjs; SIGUSR2), so
# heap and external memory count live objects, and the summary gives the
# memory per live session (SOAK_FORCE_GC=0: sample without collecting).
# Exit code: the load tester's (0: run done, no objective missed; the
# objective is errors < 1 %).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SESSIONS=${SOAK_SESSIONS:-20}
DURATION=${SOAK_DURATION:-10m}
RAMP=${SOAK_RAMP:-2}
PORT=${SOAK_PORT:-18090}
INTERNAL_PORT=${SOAK_INTERNAL_PORT:-19464}
PROBE_PORT=${SOAK_PROBE_PORT:-50199}
OUT=${SOAK_OUT:-loadtest-results/soak-$(date -u +%Y%m%dT%H%M%SZ)}
SAMPLE_S=${SOAK_SAMPLE_S:-30}
# After the load: ended sessions stay reachable for 120 s (their reward event follows the end),
# swept every 30 s.
SETTLE_S=${SOAK_SETTLE_S:-180}
FORCE_GC=${SOAK_FORCE_GC:-1}
DB=${SOAK_DB:-postgres}
PG_PORT=${SOAK_PG_PORT:-15499}
PG_BIN=${PARLEY_PG_BIN:-/usr/lib/postgresql/15/bin}

log() { printf '[soak] %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

mkdir -p "$OUT"
data=$(mktemp -d "${TMPDIR:-/tmp}/parley-soak-XXXXXX")
pgdir=""
probe_pid=""
node_pid=""
sampler_pid=""
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	for pid in "$sampler_pid" "$node_pid" "$probe_pid"; do
		if [[ -n $pid ]]; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	if [[ -n $pgdir ]]; then
		(cd "$pgdir" && as_pg "$PG_BIN/pg_ctl" stop -w -m fast -D "$pgdir/data") >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	rm -rf "$data"
}
# initdb refuses root: as root, the cluster belongs to Debian's postgres user.
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
trap cleanup EXIT

metrics_url="http://127.0.0.1:$INTERNAL_PORT/metrics"
# One gauge's value from the node's internal /metrics ("" when it cannot be read).
metric() {
	local text
	text=$(curl -fsS --max-time 5 "$metrics_url" 2>/dev/null) || return 0
	awk -v name="$1" '$1 == name { print $2; exit }' <<<"$text"
}
mib() { [[ -n $1 ]] && awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
sample() {
	if [[ $FORCE_GC == 1 && -n $node_pid ]]; then
		kill -USR2 "$node_pid" 2>/dev/null || true
		sleep 1
	fi
	printf '%s,%s,%s,%s,%s,%s,%s\n' "$(date -u +%s)" "$1" "$(metric process_resident_memory_bytes)" \
		"$(metric nodejs_heap_size_used_bytes)" "$(metric nodejs_external_memory_bytes)" \
		"$(metric nodejs_active_handles_total)" "$(metric voice_sessions_active)" >>"$OUT/memory.csv"
}

log "latency probe (benchmark-only speech worker) on 127.0.0.1:$PROBE_PORT"
node --import tsx loadtest/src/probe/main.ts --port "$PROBE_PORT" >"$OUT/probe.log" 2>&1 &
probe_pid=$!

database=(PARLEY_DATA_DIR="$data")
if [[ $DB == postgres ]]; then
	pgdir=$(mktemp -d "${TMPDIR:-/tmp}/parley-soak-pg-XXXXXX")
	[[ $(id -u) -eq 0 ]] && chown postgres: "$pgdir"
	# (in its folder: the postgres user may not be allowed into the caller's)
	(
		cd "$pgdir"
		as_pg "$PG_BIN/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --no-sync
		as_pg "$PG_BIN/pg_ctl" start -w -D "$pgdir/data" -l "$pgdir/log" \
			-o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$pgdir"
	) >"$OUT/postgres.log" 2>&1
	psql -qh 127.0.0.1 -p "$PG_PORT" -U postgres -c "create database parley" >>"$OUT/postgres.log"
	database=(DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/parley" PARLEY_SEED_DEMO=1)
	log "PostgreSQL 15 on 127.0.0.1:$PG_PORT"
fi

log "node on :$PORT (internal :$INTERNAL_PORT), database: $DB"
gc_flags=()
[[ $FORCE_GC == 1 ]] && gc_flags=(--expose-gc --import "$ROOT/scripts/gc-on-signal.mjs")
(
	cd signaling
	exec env "${database[@]}" NODE_ENV=development LOG_LEVEL="${LOG_LEVEL:-warn}" HOST=127.0.0.1 PORT="$PORT" \
		INTERNAL_HOST=127.0.0.1 INTERNAL_PORT="$INTERNAL_PORT" MEDIASOUP_WORKERS=1 \
		ASR_WORKERS="127.0.0.1:$PROBE_PORT" NODE_ID=soak \
		SESSIONS_MAX_PER_IP=100000 WS_MAX_SOCKETS_PER_IP=100000 \
		RATE_LIMIT_MAX_REQUESTS=1000000 RATE_LIMIT_MAX_REQUESTS_PER_STORE=1000000 \
		node "${gc_flags[@]}" --import tsx src/main.ts
) >"$OUT/node.log" 2>&1 &
node_pid=$!

for _ in $(seq 1 120); do
	curl -fsS --max-time 2 "http://127.0.0.1:$INTERNAL_PORT/ready" >/dev/null 2>&1 && break
	kill -0 "$node_pid" 2>/dev/null || {
		log "the node exited: $OUT/node.log"
		exit 2
	}
	sleep 1
done
curl -fsS --max-time 2 "http://127.0.0.1:$INTERNAL_PORT/ready" >/dev/null || {
	log "the node did not become ready"
	exit 2
}

echo "unix_s,phase,rss_bytes,heap_used_bytes,external_bytes,handles,live_sessions" >"$OUT/memory.csv"
sleep 5
sample start
start_rss=$(metric process_resident_memory_bytes)
log "node ready: RSS $(mib "$start_rss") MiB before the load"

(while sleep "$SAMPLE_S"; do sample load; done) &
sampler_pid=$!

log "load: $SESSIONS sessions for $DURATION (ramp $RAMP/s, looping the recording)"
status=0
pnpm --silent loadtest --url "http://127.0.0.1:$PORT" --metrics-url "$metrics_url" --server-pid "$node_pid" \
	-n "$SESSIONS" --ramp "$RAMP" -d "$DURATION" --loop --quiet --out "$OUT" \
	--slo 'errors<1%' >"$OUT/loadtest.txt" 2>&1 || status=$?
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""

# Every session has ended: 30 s later (records written, sockets closed), then
# once the node has let go of ended sessions.
sleep 30
sample end
end_rss=$(metric process_resident_memory_bytes)
sleep $((SETTLE_S > 30 ? SETTLE_S - 30 : 0))
sample settled
settled_rss=$(metric process_resident_memory_bytes)

cat "$OUT/loadtest.txt"
# shellcheck disable=SC2016 # JavaScript template strings, not shell
node -e '
  const fs = require("fs");
  const [out, startRss, endRss, settledRss, settleS] = process.argv.slice(1);
  const r = JSON.parse(fs.readFileSync(`${out}/report.json`, "utf8"));
  const rows = fs.readFileSync(`${out}/memory.csv`, "utf8").trim().split("\n").slice(1).map((l) => l.split(","));
  const mib = (b) => (Number(b) / 1048576).toFixed(1);
  const load = rows.filter((x) => x[1] === "load" && x[2]);
  const t = r.totals;
  console.log("\n== soak summary");
  console.log(`sessions: ${t.sessionsStarted} started, ${t.sessionsConnected} connected, ${t.sessionsWithErrors} with errors (error rate ${(100 * t.errorRate).toFixed(2)} %), peak ${t.peakConcurrentSessions} concurrent`);
  console.log(`errors: ${r.errors.length ? r.errors.map((e) => `${e.stage}/${e.kind} x${e.count}`).join(", ") : "none"}`);
  console.log(`packets: ${t.packetsSent} sent, ${t.packetsLost} lost; partials ${t.partials}, finals ${t.finals}, scores ${t.scores}`);
  const ext = (phase) => rows.find((x) => x[1] === phase)?.[4];
  console.log(`node RSS: ${mib(startRss)} MiB before the load, ${mib(endRss)} MiB 30 s after it, ${mib(settledRss)} MiB ${settleS} s after it`);
  console.log(`node external memory: ${mib(ext("start"))} MiB before, ${mib(ext("end"))} MiB 30 s after, ${mib(ext("settled"))} MiB ${settleS} s after`);
  // Live memory per session: heap + external at the peak against before the load (meaningful after a forced GC).
  const peak = load.filter((x) => Number(x[6]) > 0 && Number(x[6]) === Math.max(...load.map((y) => Number(y[6]))));
  const start = rows.find((x) => x[1] === "start");
  if (peak.length && start) {
    const live = (x) => Number(x[3]) + Number(x[4]);
    const mean = peak.reduce((a, x) => a + live(x), 0) / peak.length;
    const n = Number(peak[0][6]);
    console.log(`node heap + external per live session: ${((mean - live(start)) / n / 1048576).toFixed(2)} MiB (${peak.length} samples at ${n} live sessions)`);
  }
  if (load.length >= 2) {
    const first = load[0], last = load.at(-1);
    const max = Math.max(...load.map((x) => Number(x[2])));
    console.log(`node RSS under load: ${mib(first[2])} MiB at the first sample, ${mib(last[2])} MiB at the last, max ${mib(max)} MiB (${load.length} samples); V8 heap ${mib(first[3])} -> ${mib(last[3])} MiB, external ${mib(first[4])} -> ${mib(last[4])} MiB, handles ${first[5]} -> ${last[5]}`);
  }
' "$OUT" "$start_rss" "$end_rss" "$settled_rss" "$SETTLE_S" | tee "$OUT/summary.txt"
log "files in $OUT"
exit "$status"
