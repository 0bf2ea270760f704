# syntax=docker/dockerfile:1.7
# GPU speech worker: the same parley.asr.v1 gRPC server with the Whisper
# engine (transformers on torch/CUDA), which the GPU speech-worker issue adds.
#
#   docker build -f deploy/docker/asr-gpu.Dockerfile -t parley/asr-gpu .   # from the repository root
#
# Parameters, to align with that engine when it lands:
# - ASR_ENGINE (default "whisper"): the worker's --engine name.
# - WHISPER_MODEL_PATH (default /models/whisper): a local folder in the
#   Hugging Face layout, mounted read-only; nothing is downloaded at run time
#   (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE).
# - CUDA_IMAGE, TORCH_INDEX_URL, TORCH_VERSION, TRANSFORMERS_VERSION: the CUDA
#   runtime and the wheels built for it (the driver on the host must support
#   the CUDA version).
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG TORCH_VERSION=2.9.1
ARG TRANSFORMERS_VERSION=4.57.3
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY inference-bridge/asr-worker/requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      "transformers==${TRANSFORMERS_VERSION}" tokenizers safetensors numpy \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -r /tmp/requirements.txt \
 && /opt/venv/bin/python -c 'import torch, transformers, grpc, google.protobuf'
COPY inference-bridge/asr-worker/parley_asr /app/parley_asr
RUN /opt/venv/bin/python -m compileall -q /app/parley_asr

FROM ${CUDA_IMAGE} AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 parley \
 && useradd --system --uid 10001 --gid parley --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin parley
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GRPC_VERBOSITY=ERROR \
    ASR_ENGINE=whisper \
    WHISPER_MODEL_PATH=/models/whisper \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
USER 10001:10001
EXPOSE 50051/tcp
# The gRPC server accepts HTTP/2 connections (the bridge itself checks each
# worker with GetWorkerInfo and routes around one that fails).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import grpc; grpc.channel_ready_future(grpc.insecure_channel('127.0.0.1:50051')).result(timeout=3)"]
# A shell form would lose tini's signal forwarding; the engine name comes
# through the environment so that one image serves every engine.
ENTRYPOINT ["/usr/bin/tini", "--", "/bin/sh", "-c", "exec python -m parley_asr --engine \"$ASR_ENGINE\" \"$@\"", "parley_asr"]
CMD ["--host", "0.0.0.0", "--port", "50051"]
