#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#   bash scripts/setup.sh          # runtime dependencies
#   bash scripts/setup.sh test     # + test dependencies (including the 'slicer' extra: slicer-core, for tests/slicer)
# torch==2.13.0 (CPU wheel) is installed before anything else so no other package can pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
pip_() { .venv/bin/python -m pip install -q --disable-pip-version-check "$@"; }
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0 (CPU)"
  pip_ -c constraints.txt torch==2.13.0
fi
spec="."
# the tests of the 3D Slicer extension need headless MRML scenes: the test set-up adds the 'slicer' extra
[[ ",$extras," == *",test,"* ]] && extras="$extras,slicer"
[[ -n "$extras" ]] && spec=".[$extras]"
echo "[setup] installing monai_chpnet $spec"
pip_ -c constraints.txt -e "$spec"
echo "[setup] done: $(.venv/bin/python -c 'import torch, monai; print(f"torch {torch.__version__}, monai {monai.__version__}")')"
