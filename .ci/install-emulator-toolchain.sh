#!/usr/bin/env bash
# Installs what the CPU CUDA emulator (tests/AccelAes.Kernels.Tests/Emulator) needs to be built by the Test target:
# g++ (the kernels are compiled as C++20 with libstdc++'s <barrier>) and python3 (build.py). Idempotent; run as root
# on Debian 12 (bookworm). Without them the Test target fails under CI instead of skipping the CUDA tests.
set -euo pipefail

missing=()
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-emulator-toolchain: already present: $(g++ --version | head -n1), $(python3 --version)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-emulator-toolchain: must run as root (apt-get) to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-emulator-toolchain: installed ${missing[*]}: $(g++ --version | head -n1), $(python3 --version)"
