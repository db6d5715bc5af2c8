# Ingests corpus/ at build time and serves the API on port 8000.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    ASSISTANT_INDEX=/data/index \
    ASSISTANT_CORPUS=/app/corpus \
    ASSISTANT_CACHE_DIR=/opt/assistant-cache \
    ASSISTANT_ALLOWED_HOSTS=*

WORKDIR /app
# LightGBM (the sentence ranker and chunk reranker) needs the OpenMP runtime the slim image lacks.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*
# CPU-only torch from PyTorch's index keeps the image small (no CUDA libraries).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

COPY pyproject.toml README.md ./
COPY assistant ./assistant
# The int8 embedding model, built once into the image (a failure here fails the image build
# rather than shipping the slower prebuilt fallback unnoticed).
RUN pip install . && python -m assistant.embedding.quantize

COPY corpus ./corpus
RUN assistant ingest /app/corpus --quiet

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/readyz')" || exit 1
CMD ["assistant", "serve", "--host", "0.0.0.0", "--port", "8000"]
