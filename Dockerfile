# Ingests corpus/ at build time and serves the API on port 8000. The index lives in the volume
# /data, so documents added over the API survive a new container:
#   docker run -v assistant-data:/data -p 8000:8000 -e ASSISTANT_API_KEYS=... assistant
# The MCP endpoint answers localhost only; name your host: -e ASSISTANT_ALLOWED_HOSTS=qa.example
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    ASSISTANT_INDEX=/data/index \
    ASSISTANT_CORPUS=/app/corpus \
    ASSISTANT_CACHE_DIR=/opt/assistant-cache

WORKDIR /app
# LightGBM (the sentence ranker and chunk reranker) needs the OpenMP runtime the slim image lacks.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 assistant \
    && mkdir -p /data /opt/assistant-cache && chown assistant /data /opt/assistant-cache
# CPU-only torch from PyTorch's index keeps the image small (no CUDA libraries).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

# The dependencies first, from pyproject.toml alone (an empty package stands in for the code),
# so that editing the code does not reinstall them: this layer stays cached.
COPY pyproject.toml README.md ./
RUN mkdir assistant && touch assistant/__init__.py && pip install . && pip uninstall -y assistant \
    && rm -rf assistant build
COPY assistant ./assistant
RUN pip install --no-deps .

USER assistant
# The int8 embedding model, built once into the image (a failure here fails the image build
# rather than shipping the slower prebuilt fallback unnoticed).
RUN python -m assistant.embedding.quantize
COPY --chown=assistant corpus ./corpus
RUN assistant ingest /app/corpus --quiet
# Declared after the ingest: a new volume starts with the sample index in it.
VOLUME /data

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/readyz')" || exit 1
CMD ["assistant", "serve", "--host", "0.0.0.0", "--port", "8000"]
