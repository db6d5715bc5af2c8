#!/usr/bin/env bash
# Set up .venv/ at the repo root: a CPU build of PyTorch, then the project (editable).
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --test   runtime + test dependencies
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
echo "setup: done (.venv/bin/assistant)"
