#!/usr/bin/env bash
# Builds the CPU CUDA emulator (README.md) and runs the CUDA backend tests on it.
# Usage: run-gpu-tests.sh [name filter]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
dir="$(python3 "$here/build.py")"
echo "emulator: $dir/libcuda.so.1"
filter="FullyQualifiedName~AccelAes.Engine.Tests.Cuda"
if [ $# -gt 0 ]; then filter="$filter&DisplayName~$1"; fi
ACCELAES_CUDA_LIB_DIR="$dir" dotnet test "$repo/tests/AccelAes.Engine.Tests" --filter "$filter" --logger "console;verbosity=normal"
