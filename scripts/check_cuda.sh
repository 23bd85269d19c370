#!/usr/bin/env bash
# make check-cuda: compiles the crate with the `cuda` feature (candle's CUDA kernels included)
# on a machine without a GPU or a CUDA install, with the CUDA compiler from PyPI.
#
# - target/cuda-venv/: nvcc and the CUDA headers (requirements-cuda.txt), installed once;
# - target/cuda/: the build, kept apart so the CPU build in target/ is not invalidated.
# cudarc 0.19 knows CUDA versions up to 13.4: CUDARC_CUDA_VERSION=13000 makes it use the 13.0
# API (the PyPI compiler is 13.5). With no GPU to ask, the kernels are compiled for
# CUDA_COMPUTE_CAP (default 90, an H100/H200; 80 for an A100, 89 for an RTX 40xx).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=target/cuda-venv
stamp=$venv/.requirements-cuda.stamp
if [ ! -f "$stamp" ] || [ requirements-cuda.txt -nt "$stamp" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check -q -r requirements-cuda.txt
  touch "$stamp"
fi
cuda_home=$(echo "$venv"/lib/python3*/site-packages/nvidia/cu13)
if [ ! -x "$cuda_home/bin/nvcc" ]; then
  echo "check-cuda: no nvcc in $cuda_home (the nvidia-cuda-nvcc package changed its layout?)" >&2
  exit 1
fi
export CUDA_HOME="$PWD/$cuda_home"
export PATH="$CUDA_HOME/bin:$PATH"
export CUDARC_CUDA_VERSION=13000
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"
export CARGO_TARGET_DIR=target/cuda
echo "check-cuda: $(nvcc --version | tail -1), compute capability $CUDA_COMPUTE_CAP"
start=$(date +%s)
cargo check --features cuda --all-targets
echo "check-cuda: the cuda feature compiles ($(( $(date +%s) - start )) s)"
