#!/usr/bin/env bash
# Set up the runtime environment and run the main job: reconstruct the shipped sample volume at 4x.
# Writes NIfTI + figure + metrics to ./outputs and prints PSNR/SSIM against zero-filling.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec .venv/bin/python -m monai_chpnet demo --output-dir "${OUTPUT_DIR:-outputs}" "$@"
