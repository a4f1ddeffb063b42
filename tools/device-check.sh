#!/usr/bin/env bash
# The one script to run on a GPU machine (no .NET SDK needed): it uses the NativeAOT `accelaes` next to it
# (built here with `dotnet cake --target=DeviceKit`, which copies this script into devicekit/).
#
#   devicekit/device-check.sh [OUT]          # OUT defaults to $OUT, else ./device-check-out
#
# Runs, each with its own time limit, never stopping at a failure:
#   a quick first step (selftest's op checks alone, 60 s: a crash or a refused module shows before the long steps),
#   selftest's tiny-model forward of each backbone vs the CPU, kernels --compile (the device's target, then every
#   target the NVRTC lists, with registers and spills),
#   gemm and attention micro-benchmarks, and benchmarks of sd3-medium, flux-dev and lumina-next-sft at 1024²
#   with --accel accelaes (one run per model reports the dense forward, per-op profile and peak comparison, and the
#   accelaes step mix against dense: the weights are generated once). Every command's output goes to OUT/<name>.log
#   (JSON results to OUT/<name>.json);
#   OUT/summary.txt lists each command's exit status and time. docs/perf/README.md says how to record the numbers.
#   DEVICE_CHECK_SANITIZER=1 adds compute-sanitizer runs (memcheck, racecheck, synccheck; see the end of this script).
set -u

here="$(cd "$(dirname "$0")" && pwd)"
bin="${ACCELAES:-$here/accelaes}"
out="${1:-${OUT:-$PWD/device-check-out}}"
# Seconds per command. One device call may run 600 s in all, so the default keeps the six steps inside that when
# each stays near its expected time; a step that hangs loses only its own share.
limit="${DEVICE_CHECK_TIMEOUT:-150}"
repeat="${DEVICE_CHECK_REPEAT:-5}"     # measured runs per benchmark (the median is reported)
mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
failures=0

if [ ! -x "$bin" ]; then
    echo "device-check: no accelaes binary at $bin (build devicekit/ with: dotnet cake --target=DeviceKit)" | tee -a "$summary"
    exit 2
fi

# run NAME COMMAND...: one step, logged, timed, its status recorded; a failure or a timeout does not stop the script.
run() {
    local name="$1"; shift
    local start end rc step_limit="${STEP_LIMIT:-$limit}"
    start=$(date +%s)
    echo "== $name: $*" | tee "$out/$name.log"
    timeout --kill-after=30 "$step_limit" "$@" >> "$out/$name.log" 2>&1
    rc=$?
    end=$(date +%s)
    case $rc in
        0) status="ok" ;;
        124|137) status="TIMEOUT after ${step_limit}s" ;;
        4) status="NO GPU (exit 4)" ;;
        *) status="FAILED (exit $rc)" ;;
    esac
    [ "$rc" -ne 0 ] && failures=$((failures + 1))
    printf '%-32s %-24s %5ss\n' "$name" "$status" "$((end - start))" | tee -a "$summary"
}

# NVRTC and cuBLASLt: the engine dlopens them by name (NativeLibraries.cs). Images that carry CUDA as a toolkit
# folder or as pip wheels (nvidia-cuda-nvrtc, nvidia-cublas) keep them off the loader's path, so add the first
# folder found for each unless the caller chose one (ACCELAES_CUDA_LIB_DIR) or ldconfig already knows it.
add_lib_dir() {
    local pattern="$1" found
    ldconfig -p 2>/dev/null | grep -q "$pattern" && return
    found=$(find /usr/local/cuda*/lib64 /usr/local/cuda*/targets/*/lib $wheel_root \
        -name "$pattern*" 2>/dev/null | head -n1)
    [ -n "$found" ] && export LD_LIBRARY_PATH="$(dirname "$found")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
wheel_root=$(python3 -c 'import nvidia, os; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
if [ -z "${ACCELAES_CUDA_LIB_DIR:-}" ]; then
    add_lib_dir libnvrtc.so
    add_lib_dir libcublasLt.so
    add_lib_dir libnvToolsExt.so
fi

{
    echo "device-check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname)"
    echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} ACCELAES_CUDA_LIB_DIR=${ACCELAES_CUDA_LIB_DIR:-}"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "nvidia-smi not available"
    "$bin" --version 2>&1 || true
} > "$out/machine.txt"

STEP_LIMIT=60 run selftest-ops "$bin" selftest --skip-models --json "$out/selftest-ops.json"
run selftest-models     "$bin" selftest --skip-ops --json "$out/selftest-models.json"
STEP_LIMIT=60 run kernels-compile "$bin" kernels --compile --json "$out/kernels-device.json"
run gemm                "$bin" bench --backend cuda --op gemm --repeat "$repeat" --json "$out/gemm.json"
run attention           "$bin" bench --backend cuda --op attention --repeat "$repeat" --json "$out/attention.json"
for arch in sd3-medium flux-dev lumina-next-sft; do
    run "$arch"         "$bin" bench --backend cuda --arch "$arch" --resolution 1024 --accel accelaes --repeat "$repeat" --json "$out/$arch.json"
done
# Last, as it only reads the compiler: every target this machine's NVRTC lists (a newer NVRTC than CI's 11.8).
run kernels-all         "$bin" kernels --compile --arch all --json "$out/kernels-all.json"

# DEVICE_CHECK_SANITIZER=1: also compute-sanitizer over a tiny-model generation (every stage: encoders, denoising steps
# as graphs, VAE) and selftest's op checks (memcheck), and over selftest's attention cases (racecheck: shared-memory
# hazards between the warps of a CTA; synccheck: barriers in divergent code). Off by default: under the sanitizers
# these take minutes, so they belong in a device call of their own. compute-sanitizer ships with the CUDA toolkit
# (or the nvidia-cuda-sanitizer wheel); it is looked up on PATH, in /usr/local/cuda*/bin and in the wheel.
if [ "${DEVICE_CHECK_SANITIZER:-0}" = "1" ]; then
    sanitizer=$(command -v compute-sanitizer 2>/dev/null || find /usr/local/cuda*/bin /usr/local/cuda*/compute-sanitizer $wheel_root \
        -name compute-sanitizer -type f 2>/dev/null | head -n1)
    if [ -n "$sanitizer" ]; then
        export ACCELAES_CACHE_DIR="${ACCELAES_CACHE_DIR:-/tmp/accelaes-cache}"
        run memcheck-generate "$sanitizer" --tool memcheck --error-exitcode 9 \
            "$bin" generate --backend cuda --steps 4 --prompt "a lighthouse at dusk" --out /tmp/device-check-memcheck.png
        run memcheck-selftest "$sanitizer" --tool memcheck --error-exitcode 9 "$bin" selftest --skip-models
        run racecheck-attention "$sanitizer" --tool racecheck --racecheck-report hazard --error-exitcode 9 \
            "$bin" selftest --skip-models --filter attention
        run synccheck-attention "$sanitizer" --tool synccheck --error-exitcode 9 "$bin" selftest --skip-models --filter attention
    else
        echo "compute-sanitizer not found: sanitizer steps skipped" | tee -a "$summary"
        failures=$((failures + 1))
    fi
fi

echo "$failures step(s) failed; logs in $out" | tee -a "$summary"
exit $(( failures > 0 ? 1 : 0 ))
