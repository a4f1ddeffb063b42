#!/usr/bin/env bash
# Builds the CPU CUDA emulator (README.md) and runs the CUDA device tests (the *.Tests.Cuda namespaces) on it.
# Usage: [FAKE_CUDA_CC=8.6] [FAKE_CUDA_DRIVER_VERSION=12040] run-gpu-tests.sh [name filter]
# The knobs of README.md pass through to the tests; ACCELAES_REQUIRE_CUDA=1 makes a device that does not come up a
# failure, not a skip.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
dir="$(python3 "$here/build.py")"
echo "emulator: $dir/libcuda.so.1 (FAKE_CUDA_CC=${FAKE_CUDA_CC:-8.0}, FAKE_CUDA_DRIVER_VERSION=${FAKE_CUDA_DRIVER_VERSION:-12080})"
filter="FullyQualifiedName~.Tests.Cuda."
if [ $# -gt 0 ]; then filter="$filter&DisplayName~$1"; fi
ACCELAES_CUDA_LIB_DIR="$dir" ACCELAES_REQUIRE_CUDA=1 dotnet test "$repo/AccelAes.sln" -c Release --filter "$filter" --logger "console;verbosity=normal"
