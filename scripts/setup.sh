#!/usr/bin/env bash
# Set up .venv/ at the repo root: a CPU build of PyTorch, then the project (editable).
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --test   runtime + test dependencies (and Debian's chromium for the
#                             browser tests, via apt-get, when /usr/bin/chromium is missing)
# Re-running is cheap: what is installed already is kept.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip

# Torch first, pinned: left to the resolver, a bare "torch" pulls a multi-GB CUDA build.
# Elsewhere, PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu picks the CPU wheel.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION"
  "${pip[@]}" install -q "torch==$TORCH_VERSION"
fi

echo "setup: installing assistant$extras"
"${pip[@]}" install -q -e ".$extras"
.venv/bin/assistant --help >/dev/null

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
# LightGBM (the sentence ranker and chunk reranker) needs the system's OpenMP runtime.
if ! .venv/bin/python -c "import lightgbm" 2>/dev/null; then
  echo "setup: installing libgomp1 (apt-get) for LightGBM"
  if ! { as_root apt-get update -qq \
         && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libgomp1 >/dev/null; }; then
    echo "setup: error: LightGBM cannot load (libgomp.so.1 missing); install libgomp1" >&2
    exit 1
  fi
fi

# The int8 embedding model is made on this machine from the shipped weights (once, ~10 s, kept in
# ASSISTANT_CACHE_DIR); done here so the first ingest or query does not wait for it.
echo "setup: building the int8 embedding model"
if ! .venv/bin/python -m assistant.embedding.quantize >/dev/null; then
  echo "setup: warning: the int8 build failed; the prebuilt int8 model will be used (slower)" >&2
fi

# Browser tests drive the system chromium (Playwright cannot download browsers offline).
if [ -n "$extras" ] && [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium (apt-get) for the browser tests"
  if ! { as_root apt-get update -qq \
         && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
    echo "setup: warning: could not install chromium; the browser tests will be skipped" >&2
  fi
fi
echo "setup: done (.venv/bin/assistant)"
