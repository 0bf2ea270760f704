# syntax=docker/dockerfile:1.7
# GPU speech worker: the parley.asr.v1 gRPC server with the Whisper engine
# (`--engine whisper`: one batch scheduler, batched encoder and decoder passes
# across streams, on torch/CUDA; inference-bridge/asr-worker/README.md).
#
#   docker build -f deploy/docker/asr-gpu.Dockerfile -t parley/asr-gpu .   # from the repository root
#
# - The model is not in the image: WHISPER_MODEL_PATH (default /models/whisper)
#   is a Hugging Face folder (config.json, model.safetensors, the tokenizer,
#   preprocessor_config.json) mounted read-only. Nothing is downloaded at run
#   time (HF_HUB_OFFLINE, TRANSFORMERS_OFFLINE); a missing or broken folder
#   stops the worker before it listens (exit 2, one line saying what is wrong).
# - `--device cuda`: a worker without a GPU fails at start instead of decoding
#   on its CPU. Its stream capacity is measured at start-up (no --max-streams).
# - Python packages: requirements-whisper.txt and requirements.txt, pinned and
#   installed with --no-deps as setup.sh does, except torch, which comes from
#   PyTorch's CUDA index (with its nvidia-* CUDA libraries) in place of the
#   CPU pin. CUDA_IMAGE, TORCH_INDEX_URL and TORCH_VERSION follow the GPU
#   hosts' driver (the GPU machines run torch 2.11 on CUDA 13).
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS build
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ARG TORCH_VERSION=2.11.0
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
COPY inference-bridge/asr-worker/requirements.txt inference-bridge/asr-worker/requirements-whisper.txt /tmp/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
      --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}" \
 && grep -v '^torch==' /tmp/requirements-whisper.txt > /tmp/requirements-whisper-cuda.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -r /tmp/requirements-whisper-cuda.txt \
 && /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps -r /tmp/requirements.txt \
 && /opt/venv/bin/python -c 'import torch, transformers.models.whisper.modeling_whisper, tokenizers, safetensors, grpc, google.protobuf'
COPY inference-bridge/asr-worker/parley_asr /app/parley_asr
RUN /opt/venv/bin/python -m compileall -q /app/parley_asr \
 && cd /app && /opt/venv/bin/python -c 'import parley_asr.whisper.engine'

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
    WHISPER_MODEL_PATH=/models/whisper \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    HF_HOME=/tmp/huggingface
USER 10001:10001
EXPOSE 50051/tcp
# The server listens only once the model is loaded, warmed up and measured;
# healthy while its Python answers GetWorkerInfo (parley_asr.probe), as the
# bridge checks each worker, routing around one that fails.
HEALTHCHECK --interval=15s --timeout=8s --start-period=180s --retries=3 \
  CMD ["python", "-m", "parley_asr.probe", "--port", "50051", "--timeout", "4"]
ENTRYPOINT ["/usr/bin/tini", "--", "python", "-m", "parley_asr", "--engine", "whisper"]
CMD ["--host", "0.0.0.0", "--port", "50051", "--device", "cuda"]
