#!/usr/bin/env bash
# The one script to run on a GPU machine (no .NET SDK needed): it uses the NativeAOT `accelaes` next to it
# (built here with `dotnet cake --target=DeviceKit`, which copies this script into devicekit/).
#
#   devicekit/device-check.sh [OUT]          # OUT defaults to $OUT, else ./device-check-out
#
# The whole run keeps to one time budget (DEVICE_CHECK_BUDGET, default 540 s: one 600 s device call with room to pack
# the logs), each step with its own limit as well, never stopping at a failure. The steps run in the order of what only
# a GPU can tell, so a short lease still answers the first questions:
#   1. selftest's fp8 and gated-residual checks (the fp8 weight cases, LinearAddGatedInPlace, LinearOfRowsAddGatedInPlace):
#      the dequantise path bit for bit, the FP8 GEMM within its 2⁻⁴ rule, and the two report lines — whether cuBLASLt
#      offered an FP8 algorithm and whether it accepted the gated-residual epilogue (copied into summary.txt);
#   2. selftest's every op check (a crash or a refused module shows here);
#   3. a tiny generate per backbone (sd3, flux, lumina-next) with --weights fp8 (FP8 GEMM on 8.9+), and the tiny FLUX
#      once more with --offload sequential (fp8 blocks streamed); the "FP8 GEMM fallback" warnings each printed are counted;
#   4. bench --op gemm (the bf16 matmul peak), selftest's tiny-model forwards, kernels --compile (the device's target);
#   5. bench --arch flux-dev --offload sequential at 1024² (blocks streamed from the host: the overlap's cost);
#   6. as the budget allows: bench --op attention, bench --arch sd3-medium | flux-dev | lumina-next-sft with
#      --accel accelaes (dense forward, per-op profile, peak comparison, accelaes step mix), kernels --compile --arch all.
# A step that would start with less than its minimum left is SKIPPED (budget) and listed as such.
# Outputs: OUT/summary.txt (each step's status and seconds, the cuBLASLt report lines, the fallback counts),
# OUT/machine.txt, and OUT/device-check-logs.tar.gz (every step's log, JSON and image; re-packed after each step, so a
# run cut short keeps what finished). The device machine returns at most 8 files from OUT, hence the archive; the
# unpacked logs stay in DEVICE_CHECK_LOGS (default: a fresh temporary folder). docs/perf/README.md says how to record them.
#   DEVICE_CHECK_SANITIZER=1 runs compute-sanitizer instead (memcheck, racecheck, synccheck; see the end of this script):
#   minutes under the sanitizers, so a device call of its own.
set -u

here="$(cd "$(dirname "$0")" && pwd)"
bin="${ACCELAES:-$here/accelaes}"
out="${1:-${OUT:-$PWD/device-check-out}}"
# Seconds per command unless a step says otherwise; the budget for the whole run (checked before each step).
limit="${DEVICE_CHECK_TIMEOUT:-150}"
budget="${DEVICE_CHECK_BUDGET:-540}"
repeat="${DEVICE_CHECK_REPEAT:-5}"     # measured runs per benchmark (the median is reported)
mkdir -p "$out"
logs="${DEVICE_CHECK_LOGS:-$(mktemp -d "${TMPDIR:-/tmp}/device-check-logs.XXXXXX")}"
mkdir -p "$logs"
summary="$out/summary.txt"
: > "$summary"
failures=0
skipped=0
began=$(date +%s)
# Compiled kernels are cached there, so the steps after the first reuse them (the machine starts bare anyway).
export ACCELAES_CACHE_DIR="${ACCELAES_CACHE_DIR:-$logs/cache}"

if [ ! -x "$bin" ]; then
    echo "device-check: no accelaes binary at $bin (build devicekit/ with: dotnet cake --target=DeviceKit)" | tee -a "$summary"
    exit 2
fi

# pack: every log so far into OUT's one archive (after each step: a run killed later keeps what finished).
pack() {
    tar -czf "$out/device-check-logs.tar.gz.part" -C "$logs" --exclude=./cache --exclude='./tiny-*' . 2>/dev/null && mv -f "$out/device-check-logs.tar.gz.part" "$out/device-check-logs.tar.gz"
}

# run NAME COMMAND...: one step, logged, timed, its status recorded; a failure or a timeout does not stop the script.
# STEP_LIMIT (seconds, default DEVICE_CHECK_TIMEOUT) is cut to what the budget has left; a step that would get less than
# STEP_MIN (default 20 s) is skipped.
run() {
    local name="$1"; shift
    local start end rc status step_limit="${STEP_LIMIT:-$limit}" left
    start=$(date +%s)
    left=$((budget - (start - began)))
    [ "$step_limit" -gt "$left" ] && step_limit=$left
    if [ "$step_limit" -lt "${STEP_MIN:-20}" ]; then
        skipped=$((skipped + 1))
        printf '%-32s %-24s %5ss\n' "$name" "SKIPPED (budget)" 0 | tee -a "$summary"
        return
    fi
    echo "== $name: $*" | tee "$logs/$name.log"
    timeout --kill-after=10 "$step_limit" "$@" >> "$logs/$name.log" 2>&1
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
    pack
}

# selftest_report NAME: from a selftest step's JSON (the console wraps long lines at 80 columns; the JSON does not), into
# the summary: passed / failed, each failing check, and the cuBLASLt report lines (FP8 algorithm offered? gated-residual
# epilogue accepted?). python3 reads it where there is one; else the raw JSON lines.
selftest_report() {
    local json="$logs/$1.json"
    [ -f "$json" ] || { echo "    $1: no JSON written" | tee -a "$summary"; return; }
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$json" <<'PY' | sed 's/^/    /' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r.get('passed', 0)} passed, {r.get('failed', 0)} failed on {r.get('device', '?')} (cc {r.get('compute_capability', '?')}, GEMM: {r.get('gemm', '?')})")
for c in r.get("ops", []) + r.get("models", []):
    if not c.get("passed"):
        print(f"FAIL {c.get('op', c.get('name'))} {c.get('case')}: {c.get('error') or c.get('max_error')} > {c.get('bound')}")
for key in ("fp8_gemm", "gated_residual_epilogue"):
    if key in r:
        print(r[key]["summary"])
PY
    else
        grep -E '"(passed|failed|summary)"' "$json" | sed 's/^ */    /' | tee -a "$summary"
    fi
}

# fallbacks NAME: how many "FP8 GEMM fallback" warnings (one per shape cuBLASLt refused) a step printed.
fallbacks() {
    [ -f "$logs/$1.log" ] && echo "    $1: $(grep -c 'FP8 GEMM fallback' "$logs/$1.log") FP8 GEMM fallback warning(s)" | tee -a "$summary"
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

# The checks (skipped by DEVICE_CHECK_SANITIZER=1, which gives the sanitizers a device call of their own).
checks() {
    # 1–2: what only a real cuBLASLt and a real GPU can say, first.
    STEP_LIMIT=90 run selftest-fp8 "$bin" selftest --skip-models --filter fp8,LinearAddGatedInPlace,LinearOfRowsAddGatedInPlace \
        --json "$logs/selftest-fp8.json"
    selftest_report selftest-fp8
    STEP_LIMIT=90 run selftest-ops "$bin" selftest --skip-models --json "$logs/selftest-ops.json"
    selftest_report selftest-ops

    # 3: a tiny generate per backbone with fp8 weights (the models are written here: random weights, every stage runs).
    for arch in sd3 flux lumina-next; do
        STEP_LIMIT=30 run "make-tiny-$arch" "$bin" make-tiny --arch "$arch" --out "$logs/tiny-$arch" --force
        STEP_LIMIT=60 run "generate-fp8-$arch" "$bin" generate --model "$logs/tiny-$arch" --backend cuda --weights fp8 --steps 4 \
            --width 64 --height 64 --seed 1 --prompt "a lighthouse at dusk" --out "$logs/generate-fp8-$arch.png"
        fallbacks "generate-fp8-$arch"
    done
    STEP_LIMIT=60 run generate-fp8-flux-sequential "$bin" generate --model "$logs/tiny-flux" --backend cuda --weights fp8 \
        --offload sequential --steps 4 --width 64 --height 64 --seed 1 --prompt "a lighthouse at dusk" --out "$logs/generate-fp8-flux-sequential.png"
    fallbacks generate-fp8-flux-sequential

    # 4: the GEMM peak, the tiny-model forwards against the CPU, the device's own kernel target.
    STEP_LIMIT=90 run gemm "$bin" bench --backend cuda --op gemm --repeat "$repeat" --json "$logs/gemm.json"
    STEP_LIMIT=120 run selftest-models "$bin" selftest --skip-ops --json "$logs/selftest-models.json"
    selftest_report selftest-models
    STEP_LIMIT=60 run kernels-compile "$bin" kernels --compile --json "$logs/kernels-device.json"

    # 5: one real-size forward with its blocks streamed from the host.
    STEP_LIMIT=120 run flux-dev-sequential "$bin" bench --backend cuda --arch flux-dev --resolution 1024 --offload sequential \
        --repeat 3 --json "$logs/flux-dev-sequential.json"

    # 6: as the budget allows (the longest last).
    STEP_LIMIT=90 run attention "$bin" bench --backend cuda --op attention --repeat "$repeat" --json "$logs/attention.json"
    for arch in flux-dev sd3-medium lumina-next-sft; do
        run "$arch" "$bin" bench --backend cuda --arch "$arch" --resolution 1024 --accel accelaes --repeat "$repeat" --json "$logs/$arch.json"
    done
    # Only reads the compiler: every target this machine's NVRTC lists (a newer NVRTC than CI's 11.8).
    STEP_LIMIT=60 run kernels-all "$bin" kernels --compile --arch all --json "$logs/kernels-all.json"
}

if [ "${DEVICE_CHECK_SANITIZER:-0}" != "1" ]; then
    checks
fi

# DEVICE_CHECK_SANITIZER=1: instead of the checks, compute-sanitizer over a tiny-model generation (every stage: encoders, denoising steps
# as graphs, VAE) and selftest's op checks (memcheck), and over selftest's attention cases (racecheck: shared-memory
# hazards between the warps of a CTA; synccheck: barriers in divergent code). Under the sanitizers these take minutes,
# so they have a device call of their own (give it DEVICE_CHECK_BUDGET up to that call's limit). compute-sanitizer ships with the CUDA toolkit
# (or the nvidia-cuda-sanitizer wheel); it is looked up on PATH, in /usr/local/cuda*/bin and in the wheel.
if [ "${DEVICE_CHECK_SANITIZER:-0}" = "1" ]; then
    sanitizer=$(command -v compute-sanitizer 2>/dev/null || find /usr/local/cuda*/bin /usr/local/cuda*/compute-sanitizer $wheel_root \
        -name compute-sanitizer -type f 2>/dev/null | head -n1)
    if [ -n "$sanitizer" ]; then
        run memcheck-generate "$sanitizer" --tool memcheck --error-exitcode 9 \
            "$bin" generate --backend cuda --steps 4 --prompt "a lighthouse at dusk" --out "$logs/memcheck.png"
        run memcheck-selftest "$sanitizer" --tool memcheck --error-exitcode 9 "$bin" selftest --skip-models
        run racecheck-attention "$sanitizer" --tool racecheck --racecheck-report hazard --error-exitcode 9 \
            "$bin" selftest --skip-models --filter attention
        run synccheck-attention "$sanitizer" --tool synccheck --error-exitcode 9 "$bin" selftest --skip-models --filter attention
    else
        echo "compute-sanitizer not found: sanitizer steps skipped" | tee -a "$summary"
        failures=$((failures + 1))
    fi
fi

echo "$failures step(s) failed, $skipped skipped for the budget, in $(( $(date +%s) - began ))s; logs in $out/device-check-logs.tar.gz" | tee -a "$summary"
pack
exit $(( failures > 0 ? 1 : 0 ))
