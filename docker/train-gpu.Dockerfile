# GPU image for preprocessing, training and export: TensorFlow with its CUDA
# libraries from PyPI (tensorflow[and-cuda]); needs only the host's NVIDIA
# driver and the NVIDIA container toolkit (`docker run --gpus all`).
#   docker build -f docker/train-gpu.Dockerfile -t funnel-train .
#   docker run --gpus all -v "$PWD/work:/work" funnel-train train retrieval --data /work/data --out /work/run
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2

WORKDIR /app
COPY pyproject.toml README.md ./
COPY funnel ./funnel
COPY pipelines ./pipelines
COPY retrieval ./retrieval
COPY ranking ./ranking
COPY serving ./serving
RUN pip install --no-cache-dir . "tensorflow[and-cuda]==2.20.*" \
    && useradd --create-home --uid 10001 funnel

USER 10001
WORKDIR /work
ENTRYPOINT ["funnel"]
CMD ["--help"]
