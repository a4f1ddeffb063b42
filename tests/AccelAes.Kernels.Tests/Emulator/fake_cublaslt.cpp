// fake_cublaslt.cpp — a CPU stand-in for libcublasLt (test infrastructure, see README.md), built by build.py next to
// the emulator's libcuda.so.1 under the name the engine's probe tries (NativeLibraries.cs: libcublasLt.so.12).
//
// It implements the cuBLASLt entry points the engine binds (src/Kernels/Interop/CublasLt.cs) with a plain CPU GEMM
// written from cuBLASLt's documented definition, independent of the engine's gemm.cu:
//   D = epilogue(alpha · op(A) · op(B) + beta · C), column-major (or row-major when a layout's ORDER says so),
//   op = identity or transpose per TRANSA/TRANSB, A/B/C/D each bf16 or fp32, fp32 compute and scale,
//   epilogues DEFAULT, RELU, BIAS, RELU_BIAS, GELU, GELU_BIAS (bias: a vector of rows(D) broadcast along columns,
//   added before the activation; GELU is the tanh form), strided batches. C is not read when beta == 0, as cuBLAS
//   documents (the engine passes D, poisoned with NaN, as C).
//   Pointer modes (CUBLASLT_MATMUL_DESC_POINTER_MODE, cublasLt.h's cublasLtPointerMode_t): HOST (alpha, beta host
//   scalars), ALPHA_DEVICE_VECTOR_BETA_ZERO and ALPHA_DEVICE_VECTOR_BETA_HOST (alpha: an fp32 device vector of rows(D)
//   elements, one per row of D; with a strided batch the next matrix's vector is ALPHA_VECTOR_BATCH_STRIDE elements on,
//   and the bias's BIAS_BATCH_STRIDE likewise). DEVICE and DEVICE_VECTOR are not emulated (NOT_SUPPORTED).
//   FP8 (issue 15): A and B CUDA_R_8F_E4M3 (torch.float8_e4m3fn, decoded exactly: bias 7, subnormals m · 2^-9, no
//   infinities, S.1111.111 NaN), with A_SCALE_POINTER / B_SCALE_POINTER (device fp32 scalars, default 1) multiplying the
//   product: D = alpha · scaleA · scaleB · op(A) · op(B) (+ bias, epilogue), C / D bf16 or fp32. As cuBLASLt documents
//   for FP8: both of A and B e4m3 here (the engine uses no e5m2), the "TN" format only (TRANSA = T, TRANSB = N), and a
//   device of compute capability 8.9 or later — on an older one (FAKE_CUDA_CC=8.0 / 8.6, read through the emulator's
//   cuDeviceGetAttribute) the heuristic and the matmul answer NOT_SUPPORTED, as cuBLASLt does on Ampere.
//   What the documentation rules out is refused as cuBLASLt refuses it (cuBLAS docs, cublasLtMatmulDescAttributes_t and
//   cublasLtMatmul's datatype table and notes, CUDA 12.x/13.0):
//     - a pointer mode outside cublasLtPointerMode_t: INVALID_VALUE when set;
//     - ALPHA_DEVICE_VECTOR_BETA_ZERO with a non-zero ALPHA_VECTOR_BATCH_STRIDE ("this mode doesn't support batched alpha
//       vector"): INVALID_VALUE (its beta is zero whatever the pointer holds);
//     - a bias type other than D's (BIAS_DATA_TYPE: "the bias vector elements are the same type as the elements of the
//       output matrix (Dtype)" outside IMMA and FP8 kernels, which the engine does not use): NOT_SUPPORTED;
//     - a BIAS / *_BIAS epilogue with D in CUBLASLT_ORDER_ROW (datatype table, note 6): NOT_SUPPORTED;
//     - a strided batch whose matrices disagree on BATCH_COUNT: INVALID_VALUE (the engine sets every layout's count and
//       shares a matrix across the batch with stride 0).
//
// Failure knobs, so the engine's fallback paths can be driven on a machine without a GPU. Each is read on every call
// (the library is loaded once per process), from fake_cublaslt_configure() when a test set it, else the environment:
//   FAKE_CUBLASLT_REFUSE=N       cublasLtMatmul returns CUBLAS_STATUS_NOT_SUPPORTED for the heuristic's algorithms
//                                with index < N (on every call: a refusal is a property of the algorithm)
//   FAKE_CUBLASLT_NO_ALGO=1      cublasLtMatmulAlgoGetHeuristic finds nothing (NOT_SUPPORTED, 0 results, as cuBLASLt)
//   FAKE_CUBLASLT_CREATE_FAILS=1 cublasLtCreate returns CUBLAS_STATUS_NOT_INITIALIZED
//   FAKE_CUBLASLT_VERSION=120800 what cublasLtGetVersion reports (default 120400: cuBLAS 12.4, like the fake driver's 12.4)
//   FAKE_CUBLASLT_NO_ALPHA_VECTOR=1  the heuristic offers no algorithm for the alpha-vector pointer modes (NOT_SUPPORTED),
//                                as a cuBLASLt build whose kernels for the types lack that pointer mode in their
//                                CUBLASLT_ALGO_CAP_POINTER_MODE_MASK would; other GEMMs are unaffected
//                                (fake_cublaslt_set_no_alpha_vector() sets it from a test)
//   FAKE_CUBLASLT_NO_BATCH=1     the heuristic offers no algorithm for a strided batch (any layout's BATCH_COUNT > 1:
//                                NOT_SUPPORTED), so the engine's per-item fallbacks run; single matrices are unaffected
//                                (fake_cublaslt_set_no_batch() sets it from a test)
// .NET's Environment.SetEnvironmentVariable does not change the C environment on Linux, hence the export.
//
// Streams and graphs: the product runs on the emulator's one stream, which may be capturing a CUDA graph. So the GEMM
// is not run here but queued as a "kernel" through the emulator's own cuLaunchKernel: eagerly it runs at once, during
// a capture it is recorded with its arguments copied, and graph replays run it again — what cuBLASLt's kernels do on
// hardware. That needs the emulator's function-handle layout (EmuFunction / EmuKernel in fake_cuda.cpp, mirrored
// below) and the same libcuda.so.1 the engine loaded (found next to this file; if it is not loaded, cublasLtCreate
// fails, which the engine reports and bypasses).
#include <dlfcn.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

// cublasStatus_t
enum : int {
    ST_SUCCESS = 0, ST_NOT_INITIALIZED = 1, ST_ALLOC_FAILED = 3, ST_INVALID_VALUE = 7, ST_ARCH_MISMATCH = 8,
    ST_EXECUTION_FAILED = 13, ST_INTERNAL_ERROR = 14, ST_NOT_SUPPORTED = 15,
};
// cudaDataType_t
enum : int { R32F = 0, R16BF = 14, R8F_E4M3 = 28 };
// cublasComputeType_t
enum : int { COMPUTE_32F = 68 };
// cublasLtEpilogue_t
enum : uint32_t { EPI_DEFAULT = 1, EPI_RELU = 2, EPI_BIAS = 4, EPI_RELU_BIAS = 6, EPI_GELU = 32, EPI_GELU_BIAS = 36 };
// cublasLtPointerMode_t
enum : int { PM_HOST = 0, PM_DEVICE = 1, PM_DEVICE_VECTOR = 2, PM_ALPHA_VECTOR_BETA_ZERO = 3, PM_ALPHA_VECTOR_BETA_HOST = 4 };

constexpr int kAlgorithms = 4;                 // distinct algorithms the heuristic offers (at most)
constexpr uint64_t kAlgoMagic = 0xFA4EC0B1A5000000ull;  // marks an algo this library made (low byte: its index)

// ---- knobs ------------------------------------------------------------------------------------------------
std::atomic<int> g_refuse{-1}, g_no_algo{-1}, g_create_fails{-1}, g_version{-1}, g_no_alpha_vector{-1}, g_no_batch{-1};

int knob(const std::atomic<int>& configured, const char* variable, int fallback) {
    int v = configured.load();
    if (v >= 0) return v;
    const char* e = std::getenv(variable);
    return e && *e ? std::atoi(e) : fallback;
}
int refuse_count() { return knob(g_refuse, "FAKE_CUBLASLT_REFUSE", 0); }
bool no_algorithm() { return knob(g_no_algo, "FAKE_CUBLASLT_NO_ALGO", 0) != 0; }
bool create_fails() { return knob(g_create_fails, "FAKE_CUBLASLT_CREATE_FAILS", 0) != 0; }
int version() { return knob(g_version, "FAKE_CUBLASLT_VERSION", 120400); }
bool no_alpha_vector() { return knob(g_no_alpha_vector, "FAKE_CUBLASLT_NO_ALPHA_VECTOR", 0) != 0; }
bool no_batch() { return knob(g_no_batch, "FAKE_CUBLASLT_NO_BATCH", 0) != 0; }
bool alpha_vector_mode(int mode) { return mode == PM_ALPHA_VECTOR_BETA_ZERO || mode == PM_ALPHA_VECTOR_BETA_HOST; }

// Counters for tests: matmuls run, refused, heuristic queries, index of the algorithm of the last matmul run.
std::atomic<long> g_matmuls{0}, g_refusals{0}, g_heuristics{0}, g_last_algorithm{-1};

// ---- objects ----------------------------------------------------------------------------------------------
struct Handle { uint64_t magic = 0x4C74; };
struct Desc {
    int compute, scale_type;
    int trans_a = 0, trans_b = 0;
    uint32_t epilogue = EPI_DEFAULT;
    uint64_t bias = 0;
    int bias_type = -1;  // -1: the D type
    int pointer_mode = PM_HOST;
    int64_t alpha_vector_stride = 0, bias_stride = 0;
    uint64_t a_scale = 0, b_scale = 0;  // FP8: device fp32 scalars (0: scale 1)
};
struct Layout {
    int type;
    uint64_t rows, cols;
    int64_t ld;
    int order = 0;  // 0 column-major, 1 row-major
    int batch = 1;
    int64_t stride = 0;
};
struct Preference { uint64_t max_workspace = 0; };

struct Algo { uint64_t data[8]; };
struct HeuristicResult {
    Algo algo;
    size_t workspace;
    int state;
    float waves;
    int reserved[4];
};
static_assert(sizeof(HeuristicResult) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");

size_t algorithm_workspace(int index) { return (size_t)index * 1024; }  // distinct per algorithm, checked by Matmul

// ---- the emulator's launch path (mirrors fake_cuda.cpp: keep in step with EmuKernel / EmuFunction there) ---------
struct EmuKernel {
    const char* name;
    void (*launch)(void** params);
    int param_count;
    const size_t* param_sizes;
};
struct EmuFunction {
    const EmuKernel* kernel;
    int max_dynamic_shared;
};
using LaunchKernelFn = int (*)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**, void**);

// Everything one GEMM needs, by value: a captured launch copies it, so later changes to the descriptor (the engine
// sets the bias pointer on a cached descriptor before each call) do not affect a recorded one.
struct MatmulArgs {
    int trans_a, trans_b;
    uint32_t epilogue;
    uint64_t bias;
    int bias_type;
    int pointer_mode;
    uint64_t alpha_vector;  // device fp32 [rows(D)] per batch matrix (alpha-vector pointer modes), else 0
    int64_t alpha_vector_stride, bias_stride;
    uint64_t a_scale, b_scale;  // read when the GEMM runs (the engine's quantise kernel writes B's just before)
    float alpha, beta;
    Layout a, b, c, d;
    uint64_t pa, pb, pc, pd;
    uint64_t m, n, k;
};

void run_matmul(void** params);
const size_t kMatmulParamSizes[] = {sizeof(MatmulArgs)};
const EmuKernel kMatmulKernel = {"fake_cublaslt_matmul", run_matmul, 1, kMatmulParamSizes};
const EmuFunction kMatmulFunction = {&kMatmulKernel, 0};

LaunchKernelFn emulator_launch() {
    static LaunchKernelFn fn = []() -> LaunchKernelFn {
        Dl_info info;
        if (!dladdr((void*)&emulator_launch, &info) || !info.dli_fname) return nullptr;
        std::string dir = info.dli_fname;
        auto slash = dir.rfind('/');
        dir = slash == std::string::npos ? "." : dir.substr(0, slash);
        // RTLD_NOLOAD: only the copy the engine already loaded (a second copy would have its own stream-capture state).
        void* h = dlopen((dir + "/libcuda.so.1").c_str(), RTLD_NOW | RTLD_NOLOAD);
        return h ? (LaunchKernelFn)dlsym(h, "cuLaunchKernel") : nullptr;
    }();
    return fn;
}

// The emulated device's compute capability as major · 10 + minor, through the loaded emulator's cuDeviceGetAttribute
// (so a knob a test set in-process counts); 0 when it cannot be read.
int device_architecture() {
    using GetAttributeFn = int (*)(int*, int, int);
    static GetAttributeFn fn = []() -> GetAttributeFn {
        Dl_info info;
        if (!dladdr((void*)&emulator_launch, &info) || !info.dli_fname) return nullptr;
        std::string dir = info.dli_fname;
        auto slash = dir.rfind('/');
        dir = slash == std::string::npos ? "." : dir.substr(0, slash);
        void* h = dlopen((dir + "/libcuda.so.1").c_str(), RTLD_NOW | RTLD_NOLOAD);
        return h ? (GetAttributeFn)dlsym(h, "cuDeviceGetAttribute") : nullptr;
    }();
    int major = 0, minor = 0;
    if (!fn || fn(&major, 75, 0) != 0 || fn(&minor, 76, 0) != 0) return 0;  // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR / _MINOR
    return major * 10 + minor;
}

// ---- numbers ----------------------------------------------------------------------------------------------
// e4m3 (float8_e4m3fn) decoded exactly from the format's definition.
float e4m3_to_f32(uint8_t code) {
    const int exponent = (code >> 3) & 0xF, mantissa = code & 0x7;
    float magnitude = exponent == 0xF && mantissa == 0x7 ? NAN
                      : exponent == 0 ? std::ldexp((float)mantissa, -9)
                                      : std::ldexp(1.0f + mantissa / 8.0f, exponent - 7);
    return code & 0x80 ? -magnitude : magnitude;
}

float bf16_to_f32(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}
uint16_t f32_to_bf16(float f) {  // round to nearest even; NaN stays NaN
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);
    bits += 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)(bits >> 16);
}

// Element (i, j) of a layout's matrix (before op), matrix `batch` of a strided batch.
double load(const Layout& l, uint64_t base, uint64_t i, uint64_t j, int batch) {
    uint64_t index = l.order == 0 ? i + j * (uint64_t)l.ld : i * (uint64_t)l.ld + j;
    index += (uint64_t)(batch * l.stride);
    if (l.type == R8F_E4M3) return e4m3_to_f32(((const uint8_t*)base)[index]);
    return l.type == R32F ? ((const float*)base)[index] : bf16_to_f32(((const uint16_t*)base)[index]);
}
void store(const Layout& l, uint64_t base, uint64_t i, uint64_t j, int batch, float v) {
    uint64_t index = l.order == 0 ? i + j * (uint64_t)l.ld : i * (uint64_t)l.ld + j;
    index += (uint64_t)(batch * l.stride);
    if (l.type == R32F) ((float*)base)[index] = v;
    else ((uint16_t*)base)[index] = f32_to_bf16(v);
}

float gelu_tanh(float x) {
    const float c = 0.7978845608028654f;  // √(2/π)
    return 0.5f * x * (1.0f + std::tanh(c * (x + 0.044715f * x * x * x)));
}

void run_matmul(void** params) {
    const MatmulArgs& g = *static_cast<const MatmulArgs*>(params[0]);
    const bool has_bias = g.epilogue == EPI_BIAS || g.epilogue == EPI_RELU_BIAS || g.epilogue == EPI_GELU_BIAS;
    const bool relu = g.epilogue == EPI_RELU || g.epilogue == EPI_RELU_BIAS;
    const bool gelu = g.epilogue == EPI_GELU || g.epilogue == EPI_GELU_BIAS;
    const int bias_type = g.bias_type >= 0 ? g.bias_type : g.d.type;
    for (int batch = 0; batch < g.d.batch; batch++)
        for (uint64_t j = 0; j < g.n; j++)
            for (uint64_t i = 0; i < g.m; i++) {
                double sum = 0;  // more exact than any real algorithm: the CPU reference is the judge
                for (uint64_t p = 0; p < g.k; p++) {
                    double av = g.trans_a ? load(g.a, g.pa, p, i, g.a.batch > 1 ? batch : 0) : load(g.a, g.pa, i, p, g.a.batch > 1 ? batch : 0);
                    double bv = g.trans_b ? load(g.b, g.pb, j, p, g.b.batch > 1 ? batch : 0) : load(g.b, g.pb, p, j, g.b.batch > 1 ? batch : 0);
                    sum += av * bv;
                }
                const float alpha = g.alpha_vector != 0
                    ? ((const float*)g.alpha_vector)[(int64_t)batch * g.alpha_vector_stride + (int64_t)i] : g.alpha;
                const double scales = (g.a_scale ? (double)*(const float*)g.a_scale : 1.0) * (g.b_scale ? (double)*(const float*)g.b_scale : 1.0);
                float v = (float)(alpha * scales * sum);
                if (g.beta != 0.0f) v += g.beta * (float)load(g.c, g.pc, i, j, g.c.batch > 1 ? batch : 0);
                if (has_bias) {
                    const int64_t bi = (int64_t)batch * g.bias_stride + (int64_t)i;
                    v += bias_type == R32F ? ((const float*)g.bias)[bi] : bf16_to_f32(((const uint16_t*)g.bias)[bi]);
                }
                if (relu) v = v > 0 ? v : 0;
                if (gelu) v = gelu_tanh(v);
                store(g.d, g.pd, i, j, batch, v);
            }
}

bool supported_type(int t) { return t == R32F || t == R16BF || t == R8F_E4M3; }

const char* status_name(int s) {
    switch (s) {
        case ST_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
        case ST_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
        case ST_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
        case ST_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
        case ST_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
        case ST_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
        case ST_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
        case ST_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
        case 11: return "CUBLAS_STATUS_MAPPING_ERROR";
        case 16: return "CUBLAS_STATUS_LICENSE_ERROR";
        default: return "CUBLAS_STATUS_UNKNOWN";
    }
}

// The checks cuBLASLt makes on a problem: op(A) is m×k, op(B) is k×n, C and D are m×n, ld fits, types supported.
int check_problem(const Desc* desc, const Layout* a, const Layout* b, const Layout* c, const Layout* d) {
    if (!desc || !a || !b || !c || !d) return ST_INVALID_VALUE;
    if (desc->compute != COMPUTE_32F || desc->scale_type != R32F) return ST_NOT_SUPPORTED;
    if (!supported_type(a->type) || !supported_type(b->type) || !supported_type(c->type) || !supported_type(d->type))
        return ST_NOT_SUPPORTED;
    if (a->type != b->type || c->type != d->type || c->type == R8F_E4M3) return ST_NOT_SUPPORTED;
    if (a->type == R8F_E4M3) {
        if (device_architecture() < 89) return ST_NOT_SUPPORTED;           // FP8 tensor cores: sm_89 and later
        if (desc->trans_a != 1 || desc->trans_b != 0) return ST_NOT_SUPPORTED;  // FP8: the TN format only
    } else if (desc->a_scale || desc->b_scale) {
        return ST_NOT_SUPPORTED;  // scale pointers are for FP8 operands (not emulated otherwise)
    }
    const uint64_t m = d->rows, n = d->cols;
    const uint64_t am = desc->trans_a ? a->cols : a->rows, ak = desc->trans_a ? a->rows : a->cols;
    const uint64_t bk = desc->trans_b ? b->cols : b->rows, bn = desc->trans_b ? b->rows : b->cols;
    if (am != m || bn != n || ak != bk || c->rows != m || c->cols != n) return ST_INVALID_VALUE;
    if ((d->batch > 1 || a->batch > 1 || b->batch > 1 || c->batch > 1) &&
        (a->batch != d->batch || b->batch != d->batch || c->batch != d->batch))
        return ST_INVALID_VALUE;
    switch (desc->epilogue) {
        case EPI_DEFAULT: case EPI_RELU: case EPI_GELU: break;
        case EPI_BIAS: case EPI_RELU_BIAS: case EPI_GELU_BIAS:
            if (desc->bias == 0) return ST_INVALID_VALUE;
            if (d->order != 0) return ST_NOT_SUPPORTED;                              // note 6: no bias with ORDER_ROW D
            if (desc->bias_type >= 0 && desc->bias_type != d->type) return ST_NOT_SUPPORTED;  // bias type = D type
            break;
        default: return ST_NOT_SUPPORTED;
    }
    switch (desc->pointer_mode) {
        case PM_HOST: case PM_ALPHA_VECTOR_BETA_HOST: break;
        case PM_ALPHA_VECTOR_BETA_ZERO:
            if (desc->alpha_vector_stride != 0) return ST_INVALID_VALUE;  // "doesn't support batched alpha vector"
            break;
        default: return ST_NOT_SUPPORTED;  // DEVICE, DEVICE_VECTOR: not emulated
    }
    return ST_SUCCESS;
}
}  // namespace

extern "C" {

// ---- test controls ----------------------------------------------------------------------------------------
// Sets the knobs (a negative value: read the FAKE_CUBLASLT_* environment variable again) and zeroes the counters.
void fake_cublaslt_configure(int refuse, int no_algo, int create_fails_, int version_) {
    g_refuse = refuse;
    g_no_algo = no_algo;
    g_create_fails = create_fails_;
    g_version = version_;
    g_no_alpha_vector = -1;
    g_no_batch = -1;
    g_matmuls = 0;
    g_refusals = 0;
    g_heuristics = 0;
    g_last_algorithm = -1;
}

// FAKE_CUBLASLT_NO_ALPHA_VECTOR from a test (a negative value: the environment again; fake_cublaslt_configure resets it).
void fake_cublaslt_set_no_alpha_vector(int no_alpha_vector) { g_no_alpha_vector = no_alpha_vector; }

// FAKE_CUBLASLT_NO_BATCH from a test (a negative value: the environment again; fake_cublaslt_configure resets it).
void fake_cublaslt_set_no_batch(int no_batch_) { g_no_batch = no_batch_; }

// counters[0..3] = matmuls run, matmuls refused, heuristic queries, algorithm index of the last matmul run (-1: none).
void fake_cublaslt_counters(long* counters) {
    counters[0] = g_matmuls;
    counters[1] = g_refusals;
    counters[2] = g_heuristics;
    counters[3] = g_last_algorithm;
}

// ---- cuBLASLt ---------------------------------------------------------------------------------------------
size_t cublasLtGetVersion() { return (size_t)version(); }
const char* cublasLtGetStatusName(int status) { return status_name(status); }
const char* cublasLtGetStatusString(int status) {
    switch (status) {
        case ST_NOT_SUPPORTED: return "the functionality requested is not supported (fake cuBLASLt)";
        case ST_NOT_INITIALIZED: return "the library was not initialized (fake cuBLASLt)";
        default: return status_name(status);
    }
}

int cublasLtCreate(Handle** handle) {
    if (!handle) return ST_INVALID_VALUE;
    if (create_fails() || !emulator_launch()) return ST_NOT_INITIALIZED;
    *handle = new Handle();
    return ST_SUCCESS;
}
int cublasLtDestroy(Handle* handle) {
    delete handle;
    return ST_SUCCESS;
}

int cublasLtMatmulDescCreate(Desc** desc, int compute, int scale_type) {
    if (!desc) return ST_INVALID_VALUE;
    *desc = new Desc{compute, scale_type};
    return ST_SUCCESS;
}
int cublasLtMatmulDescDestroy(Desc* desc) {
    delete desc;
    return ST_SUCCESS;
}
int cublasLtMatmulDescSetAttribute(Desc* desc, int attribute, const void* value, size_t size) {
    if (!desc || !value) return ST_INVALID_VALUE;
    auto i32 = [&](int& field) { if (size != 4) return ST_INVALID_VALUE; std::memcpy(&field, value, 4); return ST_SUCCESS; };
    switch (attribute) {
        case 0: return i32(desc->compute);
        case 1: return i32(desc->scale_type);
        case 3: return i32(desc->trans_a);
        case 4: return i32(desc->trans_b);
        case 7:
            if (size != 4) return ST_INVALID_VALUE;
            std::memcpy(&desc->epilogue, value, 4);
            return ST_SUCCESS;
        case 8:
            if (size != 8) return ST_INVALID_VALUE;
            std::memcpy(&desc->bias, value, 8);
            return ST_SUCCESS;
        case 26: return i32(desc->bias_type);
        case 17: case 18:
            if (size != 8) return ST_INVALID_VALUE;
            std::memcpy(attribute == 17 ? &desc->a_scale : &desc->b_scale, value, 8);
            return ST_SUCCESS;
        case 2:
            if (size != 4) return ST_INVALID_VALUE;
            std::memcpy(&desc->pointer_mode, value, 4);
            return desc->pointer_mode >= PM_HOST && desc->pointer_mode <= PM_ALPHA_VECTOR_BETA_HOST ? ST_SUCCESS : ST_INVALID_VALUE;
        case 10: case 14: {
            if (size != 8) return ST_INVALID_VALUE;
            int64_t& field = attribute == 10 ? desc->bias_stride : desc->alpha_vector_stride;
            std::memcpy(&field, value, 8);
            return field >= 0 ? ST_SUCCESS : ST_INVALID_VALUE;
        }
        default: return ST_NOT_SUPPORTED;  // attributes the engine does not set are not emulated
    }
}

int cublasLtMatrixLayoutCreate(Layout** layout, int type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (!layout) return ST_INVALID_VALUE;
    if (!supported_type(type)) return ST_NOT_SUPPORTED;
    if (ld < (int64_t)rows && rows > 0) return ST_INVALID_VALUE;  // column-major: ld ≥ rows
    *layout = new Layout{type, rows, cols, ld};
    return ST_SUCCESS;
}
int cublasLtMatrixLayoutDestroy(Layout* layout) {
    delete layout;
    return ST_SUCCESS;
}
int cublasLtMatrixLayoutSetAttribute(Layout* layout, int attribute, const void* value, size_t size) {
    if (!layout || !value) return ST_INVALID_VALUE;
    switch (attribute) {
        case 1:
            if (size != 4) return ST_INVALID_VALUE;
            std::memcpy(&layout->order, value, 4);
            if (layout->order != 0 && layout->order != 1) return ST_NOT_SUPPORTED;
            // row-major: ld ≥ cols
            return layout->order == 1 && layout->ld < (int64_t)layout->cols ? ST_INVALID_VALUE : ST_SUCCESS;
        case 5:
            if (size != 4) return ST_INVALID_VALUE;
            std::memcpy(&layout->batch, value, 4);
            return layout->batch >= 1 ? ST_SUCCESS : ST_INVALID_VALUE;
        case 6:
            if (size != 8) return ST_INVALID_VALUE;
            std::memcpy(&layout->stride, value, 8);
            return ST_SUCCESS;
        default: return ST_NOT_SUPPORTED;
    }
}

int cublasLtMatmulPreferenceCreate(Preference** preference) {
    if (!preference) return ST_INVALID_VALUE;
    *preference = new Preference();
    return ST_SUCCESS;
}
int cublasLtMatmulPreferenceDestroy(Preference* preference) {
    delete preference;
    return ST_SUCCESS;
}
int cublasLtMatmulPreferenceSetAttribute(Preference* preference, int attribute, const void* value, size_t size) {
    if (!preference || !value) return ST_INVALID_VALUE;
    if (attribute == 1) {
        if (size != 8) return ST_INVALID_VALUE;
        std::memcpy(&preference->max_workspace, value, 8);
        return ST_SUCCESS;
    }
    return attribute == 0 ? ST_SUCCESS : ST_NOT_SUPPORTED;
}

int cublasLtMatmulAlgoGetHeuristic(Handle* handle, Desc* desc, Layout* a, Layout* b, Layout* c, Layout* d,
                                   Preference* preference, int requested, HeuristicResult* results, int* returned) {
    if (!handle || !preference || !results || !returned || requested <= 0) return ST_INVALID_VALUE;
    *returned = 0;
    g_heuristics++;
    if (int s = check_problem(desc, a, b, c, d); s != ST_SUCCESS) return s;
    if (no_algorithm()) return ST_NOT_SUPPORTED;  // what cuBLASLt answers when no algorithm fits
    if (no_alpha_vector() && alpha_vector_mode(desc->pointer_mode)) return ST_NOT_SUPPORTED;
    if (no_batch() && (a->batch > 1 || b->batch > 1 || d->batch > 1)) return ST_NOT_SUPPORTED;
    int count = 0;
    for (int index = 0; index < kAlgorithms && count < requested; index++) {
        if (algorithm_workspace(index) > preference->max_workspace) continue;
        HeuristicResult& r = results[count++];
        std::memset(&r, 0, sizeof r);
        r.algo.data[0] = kAlgoMagic | (uint64_t)index;
        r.workspace = algorithm_workspace(index);
        r.state = ST_SUCCESS;
        r.waves = 1.0f;
    }
    *returned = count;
    return count > 0 ? ST_SUCCESS : ST_NOT_SUPPORTED;
}

int cublasLtMatmul(Handle* handle, Desc* desc, const float* alpha, uint64_t pa, Layout* a, uint64_t pb, Layout* b,
                   const float* beta, uint64_t pc, Layout* c, uint64_t pd, Layout* d, const Algo* algo,
                   uint64_t workspace, size_t workspace_bytes, void* stream) {
    if (!handle || !alpha || !beta) return ST_INVALID_VALUE;
    if (int s = check_problem(desc, a, b, c, d); s != ST_SUCCESS) return s;
    // The engine always passes the heuristic's algorithm; a null or foreign one would be a binding bug.
    if (!algo || (algo->data[0] & ~0xFFull) != kAlgoMagic) return ST_INVALID_VALUE;
    const int index = (int)(algo->data[0] & 0xFF);
    if (index >= kAlgorithms) return ST_INVALID_VALUE;
    if (index < refuse_count()) {
        g_refusals++;
        return ST_NOT_SUPPORTED;
    }
    if (workspace_bytes < algorithm_workspace(index) || (workspace_bytes > 0 && workspace == 0)) return ST_INVALID_VALUE;
    // alpha is a host scalar, or (alpha-vector modes) the device address of the vector; beta is a host scalar, or zero.
    const bool alpha_vector = alpha_vector_mode(desc->pointer_mode);
    const float beta_value = desc->pointer_mode == PM_ALPHA_VECTOR_BETA_ZERO ? 0.0f : *beta;
    if (!pa || !pb || !pd || (beta_value != 0.0f && !pc)) return ST_INVALID_VALUE;
    MatmulArgs args{desc->trans_a, desc->trans_b, desc->epilogue, desc->bias, desc->bias_type, desc->pointer_mode,
                    alpha_vector ? (uint64_t)(uintptr_t)alpha : 0, desc->alpha_vector_stride, desc->bias_stride,
                    desc->a_scale, desc->b_scale, alpha_vector ? 1.0f : *alpha, beta_value,
                    *a, *b, *c, *d, pa, pb, pc, pd, d->rows, d->cols, desc->trans_a ? a->rows : a->cols};
    LaunchKernelFn launch = emulator_launch();
    if (!launch) return ST_NOT_INITIALIZED;
    void* params[] = {&args};
    int r = launch((void*)&kMatmulFunction, 1, 1, 1, 1, 1, 1, 0, stream, params, nullptr);
    if (r != 0) return ST_EXECUTION_FAILED;  // e.g. a capture already invalidated
    g_matmuls++;
    g_last_algorithm = index;
    return ST_SUCCESS;
}
}  // extern "C"
