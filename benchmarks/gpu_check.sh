#!/usr/bin/env bash
# The GPU path checked in one run, under 10 minutes on one CUDA machine:
# test fp32/bf16 against the CPU, compare with GPU memory, resnet50 throughput at
# batch 1..256 with and without torch.compile, data loading (CPU workers vs GPU
# JPEG decoding, GPU utilisation) and DDP on every visible GPU.
# Writes DIR/gpu_check.json and prints a short table; see benchmarks/README.md.
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS]
#
# Exit status: 0 all checks hold, 1 one does not, 2 no CUDA GPU or no ../shared data.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m benchmarks.gpu_check "$@"
