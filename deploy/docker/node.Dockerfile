# syntax=docker/dockerfile:1.7
# The Parley node: the uWS edge (signaling), the mediasoup media plane and the
# inference bridge in one process, plus the apps it serves: the customer app
# and the dashboards (the business wall, the admin monitor).
#
#   docker build -f deploy/docker/node.Dockerfile -t parley/node .   # from the repository root
#
# Stages: pnpm's store from the lockfile alone (cached until it changes); a
# full install that builds the two apps; the production dependencies of
# the node; the mediasoup worker built from source against Debian 12 by the
# repository's own script; a slim Debian 12 runtime running as uid 10001.
ARG NODE_IMAGE=node:20-bookworm
ARG NODE_RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS base
ARG PNPM_VERSION=10.34.9
RUN npm install -g pnpm@${PNPM_VERSION}
WORKDIR /src

# pnpm fetch needs only the lockfile: source changes keep this layer.
FROM base AS fetch
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch

FROM fetch AS build
COPY . .
RUN pnpm install --offline --frozen-lockfile \
 && pnpm --filter @parley/client build \
 && pnpm --filter @parley/dashboard build

# Only what the node runs: signaling and the workspace packages it depends on.
# tsx is a runtime dependency: the node runs its TypeScript as the repository does.
FROM fetch AS prod
COPY . .
RUN pnpm install --offline --frozen-lockfile --prod --filter "@parley/signaling..."

# The mediasoup worker, as scripts/build-mediasoup-worker.sh builds it on our
# machines: from the package's C++ source against Debian 12 libraries, with the
# patches in media/worker-build (among them a fix for a crash on the first DTLS
# handshake with Debian's OpenSSL). PARLEY_SKIP_PREBUILT=1 keeps the image the
# same wherever it is built; set it to 0 to try mediasoup's prebuilt download.
FROM build AS mediasoup-worker
ARG PARLEY_SKIP_PREBUILT=1
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev \
      libabsl-dev libflatbuffers-dev flatbuffers-compiler python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN PARLEY_SKIP_PREBUILT=${PARLEY_SKIP_PREBUILT} PARLEY_CACHE_DIR=/tmp/parley-cache \
      bash scripts/build-mediasoup-worker.sh \
 && install -D -m 0755 "$(cat .cache/mediasoup-worker/current)" /out/mediasoup-worker

FROM ${NODE_RUNTIME_IMAGE} AS runtime
# tini reaps the mediasoup worker and flite/espeak-ng children and forwards
# SIGTERM; flite speaks the AI's questions in English, espeak-ng in the
# stores' other languages; the rest are the mediasoup worker's shared
# libraries (Debian 12 names).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      tini flite espeak-ng ca-certificates libssl3 libuv1 libsrtp2-1 libusrsctp2 libabsl20220623 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin parley
WORKDIR /app
# Code and dependencies belong to root and are read-only for the node's user.
COPY --from=prod /src /app
COPY --from=build /src/client/dist /app/client/dist
COPY --from=build /src/dashboard/dist /app/dashboard/dist
COPY --from=mediasoup-worker /out/mediasoup-worker /usr/local/bin/mediasoup-worker
# --max-old-space-size: the NodeHeapNearLimit alert (deploy/prometheus/rules)
# fires at 85 % of this heap; change both together.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    MEDIASOUP_WORKER_BIN=/usr/local/bin/mediasoup-worker \
    CLIENT_DIST_DIR=/app/client/dist \
    DASHBOARD_DIST_DIR=/app/dashboard/dist \
    NODE_OPTIONS=--max-old-space-size=1536
USER 10001:10001
WORKDIR /app/signaling
# HTTP and WebSocket; WebRTC over UDP in MEDIASOUP_RTC_MIN_PORT..MAX_PORT.
EXPOSE 8080/tcp 40000-40199/udp
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "src/main.ts"]
