#!/usr/bin/env bash
# Create (or update) the project's virtual environment in .venv.
#   bash scripts/setup.sh             # runtime dependencies
#   bash scripts/setup.sh test        # + test dependencies, the 'slicer' extra (slicer-core, for tests/slicer)
#                                     #   and MONAI Label (its tests run in CI)
#   bash scripts/setup.sh monailabel  # runtime + MONAI Label, to serve the bundle (monai_chpnet/monailabel)
# torch==2.13.0 (CPU wheel) is installed before anything else so no other package can pull a CUDA build.
# MONAI Label comes from requirements-monailabel*.txt: its minimal serving set, monailabel itself --no-deps
# (installed naively it pulls sam2, torchvision and a CUDA torch).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  echo "[setup] creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# pip's resolver report is replaced by one `pip check` at the end, which leaves out what MONAI Label and
# pydicom-seg declare but are installed without on purpose (see requirements-monailabel-nodeps.txt)
pip_() { .venv/bin/python -m pip install -q --disable-pip-version-check --no-warn-conflicts "$@"; }
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  echo "[setup] installing torch==2.13.0 (CPU)"
  pip_ -c constraints.txt torch==2.13.0
fi
monailabel=0  # "test" and "monailabel" bring MONAI Label; "monailabel" is no extra of setup.py
pip_extras=""
for e in ${extras//,/ }; do
  if [[ "$e" == test || "$e" == monailabel ]]; then monailabel=1; fi
  if [[ "$e" != monailabel ]]; then pip_extras="${pip_extras:+$pip_extras,}$e"; fi
done
spec="."
# the tests of the 3D Slicer extension need headless MRML scenes: the test set-up adds the 'slicer' extra
[[ ",$pip_extras," == *",test,"* ]] && pip_extras="$pip_extras,slicer"
[[ -n "$pip_extras" ]] && spec=".[$pip_extras]"
if [[ $monailabel == 1 ]]; then
  echo "[setup] installing monai_chpnet $spec + MONAI Label's serving dependencies"
  pip_ -c constraints.txt -e "$spec" -r requirements-monailabel.txt -r requirements-monailabel-bundle.txt
  pip_ -c constraints.txt --no-deps -r requirements-monailabel-nodeps.txt
else
  echo "[setup] installing monai_chpnet $spec"
  pip_ -c constraints.txt -e "$spec"
fi
broken="$(.venv/bin/python -m pip check 2>&1 | grep -v -E '^(monailabel|pydicom-seg) |^No broken requirements' || true)"
[[ -n "$broken" ]] && echo "[setup] pip check: $broken"
echo "[setup] done: $(.venv/bin/python -c 'import torch, monai; print(f"torch {torch.__version__}, monai {monai.__version__}")')"
