#!/usr/bin/env bash
# Installs what the C ABI tests (tests/AccelAes.Native.Tests) need besides the .NET SDK: a C compiler and
# linker (gcc; NativeAOT links libaccelaes.so with it when clang is absent), the C library headers and
# startup files (libc6-dev), binutils (objcopy strips the library, nm lists its exports) and make (the
# Makefiles of native/examples and native/tests); and what the CPU CUDA emulator (tests/AccelAes.Kernels.Tests/Emulator)
# needs to be built by the Test target: g++ (the kernels are compiled as C++20) and python3 (build.py); without
# them the Test target fails under CI instead of skipping the CUDA tests. Idempotent; run as root on Debian 12 (bookworm).
set -euo pipefail

missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v make >/dev/null 2>&1 || missing+=(make)
{ command -v objcopy >/dev/null 2>&1 && command -v nm >/dev/null 2>&1; } || missing+=(binutils)
[ -e /usr/include/stdio.h ] || missing+=(libc6-dev)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-c-toolchain: already present: $(gcc --version | head -n1), $(make --version | head -n1), g++, $(python3 --version)"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-c-toolchain: must run as root (apt-get) to install: ${missing[*]}" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-c-toolchain: installed ${missing[*]}: $(gcc --version | head -n1)"
