#!/usr/bin/env python3
"""build.py — builds the CPU CUDA emulator (a fake libcuda.so.1 running the AccelAes kernels, see README.md).

Usage: build.py [output-dir]   (default: $TMPDIR/accelaes-cuda-emulator/<hash of the sources>)
Prints the directory holding libcuda.so.1; point ACCELAES_CUDA_LIB_DIR at it.

Steps: copy the kernel sources from src/Kernels/Cuda, replace the inline-PTX helpers (common.cuh's asm
functions, all of mma.cuh) by the CPU versions of emu_mma.h, make the dynamic shared-memory array a call,
generate one launch wrapper per kernel entry point from its signature (each reads its parameters from
cuLaunchKernel's void** at the declared types), and compile everything with g++ into one shared library.
"""
import concurrent.futures
import hashlib
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
KERNELS = os.path.join(REPO, "src", "Kernels", "Cuda")
ENTRY = re.compile(r'extern\s+"C"\s+__global__\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?void\s+(\w+)\s*\(([^)]*)\)')
ASM_HELPERS = ["exp2_approx", "rcp_approx", "tanh_fast", "f16_to_f32", "f32_to_f16"]


def strip_comments(text):
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def build_fake_cublaslt(out):
    """fake_cublaslt.cpp → <out>/libcublasLt.so.12, the name the engine's probe tries in ACCELAES_CUDA_LIB_DIR (see
    fake_cublaslt.cpp). It has its own source stamp, so it is rebuilt when its source changes even where the emulator's
    libcuda.so.1 is cached; it needs no kernel sources and binds to libcuda.so.1 at run time."""
    src = os.path.join(HERE, "fake_cublaslt.cpp")
    lib = os.path.join(out, "libcublasLt.so.12")
    stamp = lib + ".sha256"
    digest = hashlib.sha256(read(src).encode()).hexdigest()
    if os.path.exists(lib) and os.path.exists(stamp) and read(stamp) == digest:
        return
    os.makedirs(out, exist_ok=True)
    tmp = lib + ".tmp"
    subprocess.run(["g++", "-std=c++20", "-O2", "-g", "-fPIC", "-shared", "-pthread", "-Wall", "-o", tmp, src, "-ldl"], check=True)
    os.replace(tmp, lib)
    write(stamp, digest)


def main():
    sources = sorted(f for f in os.listdir(KERNELS) if f.endswith(".cu"))
    headers = sorted(f for f in os.listdir(KERNELS) if f.endswith(".cuh"))
    own = [os.path.join(HERE, f) for f in ("emu.h", "emu_mma.h", "fake_cuda.cpp", "build.py")]
    digest = hashlib.sha256()
    for p in [os.path.join(KERNELS, f) for f in sources + headers] + own:
        digest.update(p.encode())
        digest.update(read(p).encode())
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(tempfile.gettempdir(), "accelaes-cuda-emulator", digest.hexdigest()[:16])
    lib = os.path.join(out, "libcuda.so.1")
    build_fake_cublaslt(out)
    if os.path.exists(lib):
        print(out)
        return
    gen = os.path.join(out, "gen")
    os.makedirs(gen, exist_ok=True)

    common = read(os.path.join(KERNELS, "common.cuh"))
    for name in ASM_HELPERS:
        common, n = re.subn(r"__device__ __forceinline__ \w+ " + name + r"\(.*?\n}\n", "", common, flags=re.S)
        if n != 1:
            sys.exit(f"build.py: expected one definition of {name} in common.cuh, found {n}")
    common = common.replace("#pragma once", '#pragma once\n#include "emu.h"\n#include "emu_mma.h"', 1)
    common = common.replace("struct __align__(2) f16 { u16 bits; };", "struct __align__(2) f16 { u16 bits; };\nEMU_F16_HELPERS", 1)
    write(os.path.join(gen, "common.cuh"), common)
    for h in headers:
        if h == "mma.cuh":
            write(os.path.join(gen, h), '#pragma once\n#include "common.cuh"\n')  # provided by emu_mma.h
        elif h != "common.cuh":
            write(os.path.join(gen, h), read(os.path.join(KERNELS, h)))  # plain C++ (vec.cuh): used as written

    registry = ['#include "common.cuh"', "#include <cstddef>",
                "struct EmuKernel { const char* name; void (*launch)(void**); int param_count; const size_t* param_sizes; };"]
    table = []
    for f in sources:
        text = read(os.path.join(KERNELS, f))
        text = re.sub(r"extern __shared__ __align__\(\d+\) unsigned char (\w+)\[\];", r"#define \1 (emu_dynamic_smem())", text)
        write(os.path.join(gen, f + ".cpp"), text)
        for name, params in ENTRY.findall(strip_comments(read(os.path.join(KERNELS, f)))):
            types = []
            for p in [p.strip() for p in params.split(",") if p.strip()]:
                m = re.match(r"^(.*?)(\w+)$", p)
                types.append(m.group(1).replace("__restrict__", "").strip())
            registry.append(f'extern "C" void {name}({", ".join(types)});')
            args = ", ".join(f"*({t}*)p[{i}]" for i, t in enumerate(types))
            registry.append(f"static void launch_{name}(void** p) {{ {name}({args}); }}")
            # Parameter sizes: stream capture copies the values at launch time, as the driver does.
            sizes = ", ".join(f"sizeof({t})" for t in types) or "0"
            registry.append(f"static const size_t sizes_{name}[] = {{{sizes}}};")
            table.append(f'{{"{name}", launch_{name}, {len(types)}, sizes_{name}}}')
    registry.append("extern const EmuKernel emu_kernels[] = {" + ", ".join(table) + "};")
    registry.append(f"extern const int emu_kernel_count = {len(table)};")
    write(os.path.join(gen, "registry.cpp"), "\n".join(registry) + "\n")

    flags = ["g++", "-std=c++20", "-O2", "-g", "-fPIC", "-pthread", "-ffp-contract=off", "-fno-strict-aliasing",
             "-Wno-unknown-pragmas", "-Wno-ignored-attributes", "-I", gen, "-I", HERE, "-DACCELAES_ARCH=80"]
    units = [os.path.join(HERE, "fake_cuda.cpp"), os.path.join(gen, "registry.cpp")] + [os.path.join(gen, f + ".cpp") for f in sources]

    def compile_unit(src):
        obj = os.path.join(gen, os.path.basename(src) + ".o")
        r = subprocess.run(flags + ["-c", src, "-o", obj], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{src}:\n{r.stderr}")
        return obj

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as ex:
        objects = list(ex.map(compile_unit, units))
    tmp = lib + ".tmp"
    subprocess.run(["g++", "-shared", "-pthread", "-o", tmp] + objects, check=True)
    os.replace(tmp, lib)
    print(out)


if __name__ == "__main__":
    main()
