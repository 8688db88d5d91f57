#!/usr/bin/env bash
# Set up the runtime environment and run the main job: the MONAI Bundle's inference.json reconstructs the
# shipped sample volume (MNI T1 slab, 20 x 256 x 256) from a simulated 4x acquisition with the shipped student,
# writes NIfTI (input geometry) + figure + metrics to ./outputs and prints PSNR/SSIM against zero-filling.
# Extra arguments are bundle overrides, e.g. --input_path scan.nii.gz --acceleration 8 --device cuda:0
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
B=bundles/chpnet_mri_recon
exec .venv/bin/python -m monai.bundle run --config_file "$B/configs/inference.json" --meta_file "$B/configs/metadata.json" \
  --logging_file "$B/configs/logging.conf" --bundle_root "$B" --output_dir "${OUTPUT_DIR:-outputs}" "$@"
