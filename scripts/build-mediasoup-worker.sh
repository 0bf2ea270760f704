#!/usr/bin/env bash
# Provide a working mediasoup-worker binary for the mediasoup package installed
# in media/ and print its path on the last line of stdout. The path is also
# written to .cache/mediasoup-worker/current so the app's config can set
# MEDIASOUP_WORKER_BIN from it (mediasoup reads that variable when it is first
# imported).
#
# pnpm does not run mediasoup's postinstall (see pnpm-workspace.yaml), and
# mediasoup's own fallback build downloads its dependencies from GitHub, which
# is unreachable where we build. In order, this script:
#   1. does nothing if MEDIASOUP_WORKER_BIN already names an existing file;
#   2. uses mediasoup's own binary (node_modules/mediasoup/worker/out/Release)
#      if it is there (its postinstall ran somewhere with GitHub access);
#   3. uses a cached build: ~/.cache/parley/mediasoup-worker/<version>-<hash>/
#      (outside the clone; PARLEY_CACHE_DIR moves it), where <hash> covers the
#      patch and the libsrtp compatibility header;
#   4. unless PARLEY_SKIP_PREBUILT=1, tries mediasoup's prebuilt download once
#      (60 s limit);
#   5. otherwise builds the worker from the package's C++ source against
#      Debian 12 packages (installing them if missing), offline, applying
#      media/worker-build/mediasoup-<version>-debian.patch. About 6.5 minutes
#      on 2 cores.
#
# Environment: MEDIASOUP_WORKER_BIN, PARLEY_SKIP_PREBUILT=1, PARLEY_CACHE_DIR
# (default ~/.cache/parley), PARLEY_WORKER_BUILD_JOBS (default: nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MEDIA_DIR="$ROOT/media"
WORKER_BUILD_DIR="$MEDIA_DIR/worker-build"
# Builds are cached per machine, outside the clone (a fresh CI clone on the
# same machine reuses them), keyed on the mediasoup version and the patch.
CACHE_DIR="${PARLEY_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/parley}/mediasoup-worker"
# Where the app looks for the binary to use (signaling/src/config.ts).
CURRENT_DIR="$ROOT/.cache/mediasoup-worker"

log() { printf '[build-mediasoup-worker] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Print the result (last line of stdout) and record it for the app's config.
finish() {
	local bin=$1
	mkdir -p "$CURRENT_DIR"
	printf '%s\n' "$bin" >"$CURRENT_DIR/current.tmp.$$"
	mv -f "$CURRENT_DIR/current.tmp.$$" "$CURRENT_DIR/current"
	printf '%s\n' "$bin"
	exit 0
}

# A mediasoup-worker started without MEDIASOUP_VERSION exits with code 41
# (worker/src/main.cpp); mediasoup's postinstall uses the same check to tell
# whether a binary runs on this host.
worker_runs() {
	local bin=$1 rc=0
	[[ -f $bin && -x $bin ]] || return 1
	env -i "$bin" </dev/null >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 41 ]]
}

# 1. An explicit binary wins.
if [[ -n ${MEDIASOUP_WORKER_BIN:-} && -f ${MEDIASOUP_WORKER_BIN} ]]; then
	log "MEDIASOUP_WORKER_BIN is set, nothing to do"
	printf '%s\n' "$MEDIASOUP_WORKER_BIN"
	exit 0
fi

[[ -d $MEDIA_DIR/node_modules/mediasoup ]] ||
	die "media/node_modules/mediasoup not found; run pnpm install first"
MS_DIR=$(cd "$MEDIA_DIR/node_modules/mediasoup" && pwd -P)
MS_VERSION=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' "$MS_DIR/package.json" | head -n1)
[[ -n $MS_VERSION ]] || die "cannot read mediasoup's version from $MS_DIR/package.json"
MS_PREBUILT_BIN="$MS_DIR/worker/out/Release/mediasoup-worker"

PATCH_FILE="$WORKER_BUILD_DIR/mediasoup-$MS_VERSION-debian.patch"
COMPAT_HEADER="$WORKER_BUILD_DIR/srtp-compat/srtp.h"

# 2. mediasoup's own binary.
if worker_runs "$MS_PREBUILT_BIN"; then
	log "using mediasoup's own worker binary"
	finish "$MS_PREBUILT_BIN"
fi

[[ -f $PATCH_FILE ]] || die "no patch for mediasoup $MS_VERSION ($PATCH_FILE); port media/worker-build/ to this version"
[[ -f $COMPAT_HEADER ]] || die "missing $COMPAT_HEADER"
BUILD_HASH=$(cat "$PATCH_FILE" "$COMPAT_HEADER" | sha256sum | cut -c1-12)
OUT_DIR="$CACHE_DIR/$MS_VERSION-$BUILD_HASH"
OUT_BIN="$OUT_DIR/mediasoup-worker"

# 3. Cached build.
if [[ -x $OUT_BIN ]]; then
	log "cached build found"
	finish "$OUT_BIN"
fi

mkdir -p "$CACHE_DIR"
# One build at a time; a second caller waits and then finds the cached result.
exec 9>"$CACHE_DIR/.lock"
if command -v flock >/dev/null 2>&1; then
	flock 9
	if [[ -x $OUT_BIN ]]; then
		log "cached build found (built by a concurrent run)"
		finish "$OUT_BIN"
	fi
fi

# 4. mediasoup's prebuilt download, through its own postinstall script.
# There is no environment variable that makes the postinstall download-only:
# MEDIASOUP_SKIP_WORKER_PREBUILT_DOWNLOAD / MEDIASOUP_LOCAL_DEV make it *build*
# instead, and a failed download always falls back to its own meson build
# (which fetches its subprojects from GitHub). That fallback starts with
# "$PYTHON -m pip install invoke", so PYTHON=false makes it fail at once
# instead. MEDIASOUP_WORKER_BIN (which would make it skip everything) and the
# skip variables are removed, MEDIASOUP_FORCE_WORKER_PREBUILT_DOWNLOAD wins
# over an inherited skip. Offline it fails in well under a second
# (getaddrinfo ENOTFOUND); `timeout` bounds a slow or hanging network. A
# success puts the binary in mediasoup's default location, where mediasoup
# finds it without MEDIASOUP_WORKER_BIN.
if [[ ${PARLEY_SKIP_PREBUILT:-} != 1 ]] && command -v node >/dev/null 2>&1; then
	log "trying mediasoup's prebuilt worker download (PARLEY_SKIP_PREBUILT=1 skips this)"
	had_prebuild_dir=0
	[[ -d $MS_DIR/worker/prebuild ]] && had_prebuild_dir=1
	(
		cd "$MS_DIR"
		env -u MEDIASOUP_WORKER_BIN -u MEDIASOUP_LOCAL_DEV \
			-u MEDIASOUP_SKIP_WORKER_PREBUILT_DOWNLOAD \
			MEDIASOUP_FORCE_WORKER_PREBUILT_DOWNLOAD=1 PYTHON=false \
			timeout 60 node npm-scripts.mjs postinstall
	) >&2 || true
	if worker_runs "$MS_PREBUILT_BIN"; then
		log "got mediasoup's prebuilt worker"
		finish "$MS_PREBUILT_BIN"
	fi
	# Leave node_modules as it was (the script creates this dir up front).
	[[ $had_prebuild_dir == 1 ]] || rmdir "$MS_DIR/worker/prebuild" 2>/dev/null || true
	log "no prebuilt worker available, building from source"
fi

# 5. Build from source.
START_TIME=$(date +%s)

as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root (or sudo) to run: $*"
	fi
}

APT_PACKAGES=(
	build-essential pkg-config libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev
	libabsl-dev libflatbuffers-dev flatbuffers-compiler
)
apt_updated=0
apt_install() {
	if [[ $apt_updated == 0 ]]; then
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		apt_updated=1
	fi
	log "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "$@" >&2
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
((${#missing[@]} == 0)) || apt_install "${missing[@]}"

# meson >= 1.1 (mediasoup's requirement; Debian 12 has 1.0.1) and ninja. Use
# the ones on PATH if good enough, else pip-install them into a private venv
# (Debian's python refuses system-wide pip installs).
meson_ok() {
	local v
	v=$("$1" --version 2>/dev/null) || return 1
	printf '%s\n%s\n' 1.1.0 "$v" | sort -V -C
}
MESON=$(command -v meson || true)
NINJA=$(command -v ninja || true)
if [[ -z $MESON ]] || ! meson_ok "$MESON" || [[ -z $NINJA ]]; then
	VENV="$CACHE_DIR/tools-venv"
	if ! meson_ok "$VENV/bin/meson" || [[ ! -x $VENV/bin/ninja ]]; then
		command -v python3 >/dev/null 2>&1 || apt_install python3
		if [[ ! -x $VENV/bin/pip ]]; then
			rm -rf "$VENV"
			python3 -m venv "$VENV" >&2 || {
				apt_install python3-venv
				rm -rf "$VENV"
				python3 -m venv "$VENV" >&2
			}
		fi
		log "pip install meson ninja (into $VENV)"
		"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps 'meson>=1.1' ninja >&2
	fi
	MESON="$VENV/bin/meson"
	NINJA="$VENV/bin/ninja"
	# meson runs ninja from PATH.
	export PATH="$VENV/bin:$PATH"
fi
log "meson $("$MESON" --version), ninja $("$NINJA" --version)"

# Work on a copy; node_modules is never modified.
SRC_DIR="$CACHE_DIR/src-$MS_VERSION"
BUILD_DIR="$CACHE_DIR/build-$MS_VERSION-$BUILD_HASH"
LOG_FILE="$CACHE_DIR/build-$MS_VERSION-$BUILD_HASH.log"
rm -rf "$SRC_DIR" "$BUILD_DIR"
mkdir -p "$SRC_DIR"
cp -R "$MS_DIR/worker" "$SRC_DIR/worker"
rm -rf "$SRC_DIR/worker/out" "$SRC_DIR/worker/prebuild" "$SRC_DIR/worker/pip_invoke"
mkdir -p "$SRC_DIR/worker/srtp-compat"
cp "$COMPAT_HEADER" "$SRC_DIR/worker/srtp-compat/srtp.h"
patch -p1 -s -d "$SRC_DIR" <"$PATCH_FILE"

JOBS=${PARLEY_WORKER_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
log "building mediasoup-worker $MS_VERSION with $JOBS jobs (several minutes; log: $LOG_FILE)"
: >"$LOG_FILE"
run_logged() {
	if ! "$@" >>"$LOG_FILE" 2>&1; then
		tail -n 60 "$LOG_FILE" >&2
		die "failed: $* (full log: $LOG_FILE)"
	fi
}
run_logged "$MESON" setup \
	--buildtype release -Db_ndebug=true \
	--wrap-mode=nodownload \
	-Dms_disable_liburing=true \
	"$BUILD_DIR" "$SRC_DIR/worker"
# The generated FBS headers must exist before any C++ is compiled.
run_logged "$MESON" compile -C "$BUILD_DIR" -j "$JOBS" flatbuffers-generator
run_logged "$MESON" compile -C "$BUILD_DIR" -j "$JOBS" mediasoup-worker

worker_runs "$BUILD_DIR/mediasoup-worker" ||
	die "built $BUILD_DIR/mediasoup-worker does not run (expected exit code 41)"

mkdir -p "$OUT_DIR"
cp "$BUILD_DIR/mediasoup-worker" "$OUT_BIN.tmp.$$"
mv -f "$OUT_BIN.tmp.$$" "$OUT_BIN"
rm -rf "$BUILD_DIR" "$SRC_DIR"
log "built in $(($(date +%s) - START_TIME)) s"
finish "$OUT_BIN"
