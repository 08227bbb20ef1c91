# CPU image of the recommend service: `funnel serve` on an export mounted at /models.
#   docker build -f docker/service.Dockerfile -t funnel-serve .
#   docker run -p 8000:8000 -v "$PWD/export:/models:ro" funnel-serve
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
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 funnel

USER 10001
EXPOSE 8000
# Ready only once the models are loaded and warmed (about 7 s for a TF worker).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["funnel", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--export", "/models"]
