# syntax=docker/dockerfile:1.7
# CPU speech worker: the pocketsphinx engine behind parley.asr.v1 gRPC
# (inference-bridge/asr-worker). Debian 12's Python 3.11, as on our machines.
#
#   docker build -f deploy/docker/asr-cpu.Dockerfile -t parley/asr-cpu .   # from the repository root
#
# Run with an explicit --max-streams: inside a container the default
# (2 per CPU) counts the host's CPUs, not the container's limit.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY inference-bridge/asr-worker/requirements.txt /tmp/requirements.txt
# --no-deps, as setup.sh: every package is pinned in requirements.txt
# (pocketsphinx declares sounddevice, for microphones, which is not used).
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -r /tmp/requirements.txt \
 && /opt/venv/bin/python -c 'import pocketsphinx, grpc, google.protobuf'
COPY inference-bridge/asr-worker/parley_asr /app/parley_asr
RUN /opt/venv/bin/python -m compileall -q /app/parley_asr

FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin parley
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRPC_VERBOSITY=ERROR
USER 10001:10001
EXPOSE 50051/tcp
# Healthy while the worker's Python answers GetWorkerInfo (parley_asr.probe),
# not merely while its port accepts connections; the bridge itself checks each
# worker the same way and routes around one that fails.
HEALTHCHECK --interval=15s --timeout=8s --start-period=30s --retries=3 \
  CMD ["python", "-m", "parley_asr.probe", "--port", "50051", "--timeout", "4"]
# tini: one engine process per stream is forked; SIGTERM lets open streams finish (2 s).
ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m", "parley_asr"]
CMD ["--host", "0.0.0.0", "--port", "50051", "--max-streams", "4"]
