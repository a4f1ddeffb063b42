// fake_cuda.cpp — a CPU stand-in for libcuda.so.1 that runs the AccelAes kernels compiled by g++ (test
// infrastructure, see README.md). Implements the driver entry points the engine binds (CuNative), with
// device memory = host memory between guard pages, every call synchronous, and cuLaunchKernel running the
// g++-compiled kernel of that name block by block (emu.h describes the thread model).
//
// Stream capture records asynchronous work into graphs that cuGraphLaunch replays (see the section below).
// It checks what the real driver checks and a few things it would only show as corruption: launch
// dimensions, dynamic shared memory above 48 KiB without cuFuncSetAttribute, accesses past either end of an
// allocation (guard pages: the process dies with SIGSEGV, loudly), use of freed memory (unmapped).
// FAKE_CUDA_MEMORY_LIMIT (bytes) caps device memory, to exercise out-of-memory paths, and FAKE_CUDA_PEAK_FILE names
// a file that holds the most device memory allocated at once (rewritten at each new peak); FAKE_CUDA_CC picks the
// emulated compute capability and its limits, FAKE_CUDA_DRIVER_VERSION the driver version (which PTX ISA
// cuModuleLoadData accepts), FAKE_CUDA_REFUSE_IMAGES refuses every cubin or PTX image (README.md).
//
// Thread safety: the engine may drive the device from several host threads at once (two backends in one
// process, each with its own stream). Kernel execution is serialised by one device lock (the blocks of a
// launch run on one shared thread pool, and __shared__ variables are per-process statics), stream capture
// is per stream with the capture mode's thread rules, counters are atomic, modules and their functions are
// per cuModuleLoadData, as on hardware.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "emu.h"

struct EmuKernel {
    const char* name;
    void (*launch)(void** params);
    int param_count;
    const size_t* param_sizes;
};
extern const EmuKernel emu_kernels[];
extern const int emu_kernel_count;

typedef int CUresult;
enum : int {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
    INVALID_IMAGE = 200, NO_BINARY_FOR_GPU = 209, UNSUPPORTED_PTX_VERSION = 222,
    INVALID_HANDLE = 400, ILLEGAL_STATE = 401, NOT_FOUND = 500, LAUNCH_OUT_OF_RESOURCES = 701, NOT_SUPPORTED = 801,
    STREAM_CAPTURE_UNSUPPORTED = 900, STREAM_CAPTURE_INVALIDATED = 901, STREAM_CAPTURE_WRONG_THREAD = 908,
    GRAPH_EXEC_UPDATE_FAILURE = 910,
};

const size_t kPageSize = 4096;

// ---- thread model ---------------------------------------------------------------------------------
// A block's CUDA threads are fibers (ucontext) on the launching OS thread, switched at barriers: a thread runs until it
// waits at __syncthreads or a warp collective, or returns; the scheduler resumes the threads round-robin until all have
// returned. No OS threads, no futexes: a barrier costs two user-space context switches per thread. A pass in which no
// thread arrives at a barrier or returns while some still wait is a deadlock (threads waiting at different barriers,
// or at a barrier some threads never reach): the emulator prints the kernel and block and aborts, where hardware
// would hang.
uint3_ threadIdx;
uint3_ blockIdx;
dim3_ blockDim;
dim3_ gridDim;

namespace {
struct FiberBarrier {
    int expected = 0;
    int arrived = 0;
    uint64_t generation = 0;
};
struct Fiber {
    ucontext_t context;
    char* stack = nullptr;
    bool done = false;
};
const size_t kFiberStack = 1 << 20;  // 1 MiB per CUDA thread (reserved, not committed), a guard page below it

std::vector<Fiber> g_fibers;  // reused by every launch (only one runs at a time: the device lock)
ucontext_t g_scheduler;
int g_current;        // the running fiber: linear thread index in the block
uint64_t g_progress;  // barrier arrivals and returns, for deadlock detection
void (*g_launch)(void**);
void** g_params;
unsigned char* g_dynamic_smem;
FiberBarrier g_block_barrier;
std::vector<FiberBarrier> g_warp_barriers;
std::vector<uint64_t> g_warp_slots, g_warp_slots2;

void yield_to_scheduler() { swapcontext(&g_fibers[g_current].context, &g_scheduler); }

void arrive_and_wait(FiberBarrier& b) {
    g_progress++;
    const uint64_t generation = b.generation;
    if (++b.arrived == b.expected) {  // the last one releases the others and goes on
        b.arrived = 0;
        b.generation++;
        return;
    }
    while (b.generation == generation) yield_to_scheduler();
}

// A returned thread no longer counts (exited threads drop out of barriers on Volta and newer).
void arrive_and_drop(FiberBarrier& b) {
    g_progress++;
    b.expected--;
    if (b.arrived > 0 && b.arrived == b.expected) {
        b.arrived = 0;
        b.generation++;
    }
}

void fiber_main() {
    const int i = g_current;
    g_launch(g_params);
    arrive_and_drop(g_block_barrier);
    arrive_and_drop(g_warp_barriers[(size_t)i / 32]);
    g_fibers[(size_t)i].done = true;
}  // returns to uc_link: the scheduler

char* fiber_stack() {
    void* p = mmap(nullptr, kFiberStack + kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        std::fprintf(stderr, "[fake cuda] cannot map a fiber stack\n");
        std::abort();
    }
    mprotect(p, kPageSize, PROT_NONE);  // a thread overflowing its stack dies with SIGSEGV
    return static_cast<char*>(p) + kPageSize;
}

// Runs one block of `threads` CUDA threads of `name` to completion.
void run_block(const char* name, int threads) {
    if ((int)g_fibers.size() < threads) g_fibers.resize((size_t)threads);
    for (int i = 0; i < threads; i++) {
        Fiber& f = g_fibers[(size_t)i];
        if (!f.stack) f.stack = fiber_stack();
        getcontext(&f.context);
        f.context.uc_stack.ss_sp = f.stack;
        f.context.uc_stack.ss_size = kFiberStack;
        f.context.uc_link = &g_scheduler;
        makecontext(&f.context, fiber_main, 0);
        f.done = false;
    }
    int remaining = threads;
    while (remaining > 0) {
        const uint64_t before = g_progress;
        for (int i = 0; i < threads; i++) {
            if (g_fibers[(size_t)i].done) continue;
            g_current = i;
            threadIdx = uint3_{i % blockDim.x, (i / blockDim.x) % blockDim.y, i / (blockDim.x * blockDim.y)};
            swapcontext(&g_scheduler, &g_fibers[(size_t)i].context);
            if (g_fibers[(size_t)i].done) remaining--;
        }
        if (remaining > 0 && g_progress == before) {
            std::fprintf(stderr, "[fake cuda] deadlock in %s, block (%u,%u,%u): %d of %d threads wait at barriers that cannot complete\n",
                         name, blockIdx.x, blockIdx.y, blockIdx.z, remaining, threads);
            std::abort();
        }
    }
}
}  // namespace

void __syncthreads() { arrive_and_wait(g_block_barrier); }
void emu_warp_sync() { arrive_and_wait(g_warp_barriers[(size_t)g_current / 32]); }
uint64_t* emu_warp_slots() { return &g_warp_slots[(size_t)(g_current / 32) * 256]; }
uint64_t* emu_warp_slots2() { return &g_warp_slots2[(size_t)(g_current / 32) * 256]; }
unsigned char* emu_dynamic_smem() { return g_dynamic_smem; }
int emu_lane() { return g_current % 32; }

// ---- emulated device: compute capability, limits, driver version ----------------------------------------
namespace {
struct Arch {
    const char* name;  // FAKE_CUDA_CC value
    int major, minor;
    int shared_optin;       // max dynamic + static shared memory per block after cuFuncSetAttribute
    int shared_per_sm;
    int threads_per_sm;
    int blocks_per_sm;
};
// The per-architecture limits of the CUDA programming guide's "technical specifications" table.
const Arch kArchs[] = {
    {"8.0", 8, 0, 166912, 167936, 2048, 32},
    {"8.6", 8, 6, 101376, 102400, 1536, 16},
    {"8.9", 8, 9, 101376, 102400, 1536, 24},
    {"9.0", 9, 0, 232448, 233472, 2048, 32},
    {"12.0", 12, 0, 101376, 102400, 1536, 32},
};
const int kDefaultSharedPerBlock = 48 * 1024;

const Arch* parse_arch(const char* v) {
    for (const Arch& a : kArchs)
        if (std::strcmp(a.name, v) == 0) return &a;
    return nullptr;
}
int parse_driver_version(const char* v) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    return *v && *end == '\0' && n >= 1000 && n <= 99990 ? (int)n : -1;
}
int parse_refused(const char* v) {  // 0: none, 1: cubin, 2: ptx, -1: invalid
    if (!*v) return 0;
    if (std::strcmp(v, "cubin") == 0) return 1;
    if (std::strcmp(v, "ptx") == 0) return 2;
    return -1;
}

// A knob's value from the environment (read once), or from fake_cuda_configure (tests, between launches).
template <typename T>
T knob(std::atomic<T>& value, T unset, const char* name, T (*parse)(const char*), T fallback, bool invalid(T)) {
    T v = value.load();
    if (v != unset) return v;
    const char* text = std::getenv(name);
    v = text && *text ? parse(text) : fallback;
    if (invalid(v)) {
        // A misspelt knob must not silently test the default device: stop the process, loudly.
        std::fprintf(stderr, "[fake cuda] invalid %s=%s (see tests/AccelAes.Kernels.Tests/Emulator/README.md)\n", name, text);
        std::abort();
    }
    T expected = unset;
    value.compare_exchange_strong(expected, v);
    return value.load();
}
std::atomic<const Arch*> g_arch{nullptr};
std::atomic<int> g_driver{0}, g_refused{-2};

const Arch& arch() {
    return *knob<const Arch*>(g_arch, nullptr, "FAKE_CUDA_CC", parse_arch, &kArchs[0], [](const Arch* a) { return a == nullptr; });
}
int arch_number() { return arch().major * 10 + arch().minor; }
int driver_version() {
    return knob<int>(g_driver, 0, "FAKE_CUDA_DRIVER_VERSION", parse_driver_version, 12080, [](int v) { return v < 0; });
}

// The newest PTX ISA (major*10 + minor) a driver version accepts; a version between two rows takes the lower row,
// one older than the first row accepts no PTX.
int newest_ptx_isa(int driver) {
    static const int table[][2] = {
        {11000, 70}, {11010, 71}, {11020, 72}, {11030, 73}, {11040, 74}, {11050, 75}, {11060, 76}, {11070, 77},
        {11080, 78}, {12000, 80}, {12010, 81}, {12020, 82}, {12030, 83}, {12040, 84}, {12050, 85}, {12060, 85},
        {12080, 87}, {12090, 88}, {13000, 90},
    };
    int isa = 0;
    for (auto& row : table)
        if (driver >= row[0]) isa = row[1];
    return isa;
}

// FAKE_CUDA_REFUSE_IMAGES=cubin|ptx: every image of that kind is refused (tests force the engine's retry).
bool refuses(int kind) {
    return knob<int>(g_refused, -2, "FAKE_CUDA_REFUSE_IMAGES", parse_refused, 0, [](int v) { return v < 0; }) == kind;
}
}  // namespace

// ---- memory -----------------------------------------------------------------------------------------
namespace {
struct Mapping {
    void* base;
    size_t length;
    size_t size;
};
std::mutex g_memory_mutex;
std::map<uintptr_t, Mapping> g_allocations;  // device pointer → mapping
size_t g_allocated = 0;
const size_t kPage = kPageSize;

size_t memory_limit() {
    const char* v = std::getenv("FAKE_CUDA_MEMORY_LIMIT");
    return v ? (size_t)std::strtoull(v, nullptr, 10) : (size_t)16 << 30;
}

// FAKE_CUDA_PEAK_FILE: the peak of g_allocated, written when it grows (a process may end without running static
// destructors, so there is no write at exit). Called with g_memory_mutex held.
size_t g_peak_allocated = 0;
void record_peak() {
    if (g_allocated <= g_peak_allocated) return;
    g_peak_allocated = g_allocated;
    const char* path = std::getenv("FAKE_CUDA_PEAK_FILE");
    if (!path) return;
    if (FILE* f = std::fopen(path, "w")) {
        std::fprintf(f, "%zu\n", g_peak_allocated);
        std::fclose(f);
    }
}

// The buffer ends ≤ 255 bytes before a PROT_NONE page, and a PROT_NONE page precedes it.
void* guarded_alloc(size_t size, Mapping& m) {
    const size_t body = (size + 255) / 256 * 256;
    const size_t pages = (body + kPage - 1) / kPage;
    const size_t length = (pages + 2) * kPage;
    void* base = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    mprotect(base, kPage, PROT_NONE);
    mprotect(static_cast<char*>(base) + (pages + 1) * kPage, kPage, PROT_NONE);
    char* start = static_cast<char*>(base) + (pages + 1) * kPage - body;
    std::memset(start, 0xff, body);  // NaN everywhere: a kernel reading what nobody wrote sees NaN
    m = Mapping{base, length, size};
    return start;
}
}  // namespace

extern "C" {

CUresult cuInit(unsigned) {
    arch();  // validate the knobs now, not in the middle of a test
    driver_version();
    refuses(0);
    return SUCCESS;
}
CUresult cuDriverGetVersion(int* v) { *v = driver_version(); return SUCCESS; }

CUresult cuGetErrorName(CUresult e, const char** s) {
    switch (e) {
        case SUCCESS: *s = "CUDA_SUCCESS"; break;
        case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
        case 12: *s = "CUDA_ERROR_INVALID_PITCH_VALUE"; break;
        case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
        case INVALID_IMAGE: *s = "CUDA_ERROR_INVALID_IMAGE"; break;
        case NO_BINARY_FOR_GPU: *s = "CUDA_ERROR_NO_BINARY_FOR_GPU"; break;
        case UNSUPPORTED_PTX_VERSION: *s = "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"; break;
        case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
        case NOT_SUPPORTED: *s = "CUDA_ERROR_NOT_SUPPORTED"; break;
        case LAUNCH_OUT_OF_RESOURCES: *s = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; break;
        case INVALID_HANDLE: *s = "CUDA_ERROR_INVALID_HANDLE"; break;
        case ILLEGAL_STATE: *s = "CUDA_ERROR_ILLEGAL_STATE"; break;
        case STREAM_CAPTURE_UNSUPPORTED: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
        case STREAM_CAPTURE_INVALIDATED: *s = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; break;
        case STREAM_CAPTURE_WRONG_THREAD: *s = "CUDA_ERROR_STREAM_CAPTURE_WRONG_THREAD"; break;
        case GRAPH_EXEC_UPDATE_FAILURE: *s = "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE"; break;
        default: *s = "CUDA_ERROR_UNKNOWN"; break;
    }
    return SUCCESS;
}
CUresult cuGetErrorString(CUresult e, const char** s) { return cuGetErrorName(e, s); }

CUresult cuDeviceGetCount(int* c) { *c = 1; return SUCCESS; }
CUresult cuDeviceGet(int* d, int ordinal) { if (ordinal != 0) return INVALID_DEVICE; *d = 0; return SUCCESS; }
CUresult cuDeviceGetName(char* name, int len, int) {
    std::snprintf(name, (size_t)len, "AccelAes CPU emulator (sm_%d)", arch_number());
    return SUCCESS;
}

CUresult cuDeviceGetAttribute(int* v, int attribute, int) {
    const Arch& a = arch();
    switch (attribute) {
        case 1: *v = 1024; break;                    // max threads per block
        case 8: *v = kDefaultSharedPerBlock; break;  // max shared per block (without opt-in)
        case 10: *v = 32; break;                     // warp size
        case 13: *v = 1410000; break;                // clock kHz
        case 16: *v = 2; break;                      // SMs
        case 36: *v = 1215000; break;                // memory clock kHz
        case 37: *v = 5120; break;                   // bus width
        case 38: *v = 40 << 20; break;               // L2
        case 39: *v = a.threads_per_sm; break;       // max threads per SM
        case 75: *v = a.major; break;                // CC major
        case 76: *v = a.minor; break;                // CC minor
        case 81: *v = a.shared_per_sm; break;        // shared per SM
        case 82: *v = 65536; break;                  // registers per SM
        case 97: *v = a.shared_optin; break;         // shared per block opt-in
        case 106: *v = a.blocks_per_sm; break;       // max blocks per SM
        default: *v = 0; break;
    }
    return SUCCESS;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, int) { *bytes = memory_limit(); return SUCCESS; }

// ---- streams and stream capture -------------------------------------------------------------------------
// Every cuStreamCreate makes its own stream. While a stream captures, asynchronous work on it is recorded instead
// of run. A "potentially unsafe" call (one that would wait for the device: cuCtxSynchronize, cuMemFree, event
// synchronisation, ...) fails with CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED and invalidates the capture (which then
// ends with CUDA_ERROR_STREAM_CAPTURE_INVALIDATED) when it is made by the thread that began a THREAD_LOCAL or
// GLOBAL capture; a GLOBAL capture also forbids such calls to every other thread (those calls fail, the capture
// survives). RELAXED captures forbid nothing. Counters let tests assert what a denoising step did.
namespace {
struct Counters {
    std::atomic<long> launches{0}, graph_launches{0}, captures{0}, syncs{0}, allocations{0}, frees{0},
        host_to_device{0}, pageable_host_to_device{0}, stream_waits{0}, host_alloc_bytes{0};
};
Counters g_counters;

enum CaptureMode { kGlobal = 0, kThreadLocal = 1, kRelaxed = 2 };
struct EmuStream {
    // Guarded by g_capture_mutex.
    bool capturing = false;
    bool invalid = false;
    int mode = kGlobal;
    std::thread::id owner;
    std::vector<std::function<CUresult()>>* recording = nullptr;
};
std::mutex g_capture_mutex;
int g_global_captures = 0;                  // GLOBAL-mode captures in progress (guarded by g_capture_mutex)
thread_local EmuStream* t_capture = nullptr;  // the non-relaxed capture this thread began, if any

std::mutex g_pinned_mutex;
std::map<uintptr_t, size_t> g_pinned;  // page-locked host allocations: start → bytes

// The capture that work on `stream` joins: the stream's own, or for the legacy stream (null) the calling thread's.
EmuStream* capture_of(void* stream) {
    auto* s = stream ? static_cast<EmuStream*>(stream) : t_capture;
    return s && s->capturing ? s : nullptr;
}

// Whether this thread may make a call that would wait for the device (see above); invalidates its own capture if not.
CUresult capture_check() {
    std::lock_guard lock(g_capture_mutex);
    if (t_capture && t_capture->capturing) {
        t_capture->invalid = true;
        return STREAM_CAPTURE_UNSUPPORTED;
    }
    if (g_global_captures > 0) return STREAM_CAPTURE_UNSUPPORTED;  // another thread's GLOBAL capture
    return SUCCESS;
}

// A call that would wait for the device (counted).
CUresult sync_point() {
    g_counters.syncs++;
    return capture_check();
}

// A call that may wait for the device (cuMemFree, cuMemFreeHost): counted only when it breaks a capture.
CUresult maybe_sync_point() {
    CUresult r = capture_check();
    if (r != SUCCESS) g_counters.syncs++;
    return r;
}

// Synchronising with one stream: illegal while that stream captures (from any thread), else a sync point.
CUresult stream_sync_point(void* stream) {
    {
        std::lock_guard lock(g_capture_mutex);
        if (EmuStream* s = capture_of(stream)) {
            g_counters.syncs++;
            s->invalid = true;
            return STREAM_CAPTURE_UNSUPPORTED;
        }
    }
    return sync_point();
}

bool is_pinned(const void* p, size_t n) {
    std::lock_guard lock(g_pinned_mutex);
    auto it = g_pinned.upper_bound((uintptr_t)p);
    if (it == g_pinned.begin()) return false;
    --it;
    return (uintptr_t)p + n <= it->first + it->second;
}

// Runs `op` now, or records it when the stream is capturing. `capturable` false (a copy from pageable memory)
// invalidates the capture instead.
CUresult enqueue(void* stream, std::function<CUresult()> op, bool capturable = true) {
    {
        std::lock_guard lock(g_capture_mutex);
        if (EmuStream* s = capture_of(stream)) {
            if (!capturable) { s->invalid = true; return STREAM_CAPTURE_UNSUPPORTED; }
            if (s->invalid) return STREAM_CAPTURE_INVALIDATED;
            s->recording->push_back(std::move(op));
            return SUCCESS;
        }
    }
    return op();
}
}  // namespace

static int g_context_dummy;
CUresult cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = &g_context_dummy; return SUCCESS; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return SUCCESS; }
CUresult cuCtxSetCurrent(void*) { return SUCCESS; }
CUresult cuCtxGetCurrent(void** ctx) { *ctx = &g_context_dummy; return SUCCESS; }
CUresult cuCtxSynchronize() { return sync_point(); }

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    std::lock_guard lock(g_memory_mutex);
    *total = memory_limit();
    *free = *total > g_allocated ? *total - g_allocated : 0;
    return SUCCESS;
}

static int g_event_dummy;
CUresult cuStreamCreate(void** s, unsigned) { *s = new EmuStream(); return SUCCESS; }
CUresult cuStreamDestroy_v2(void* s) {
    if (!s) return INVALID_HANDLE;
    std::lock_guard lock(g_capture_mutex);
    auto* stream = static_cast<EmuStream*>(s);
    if (stream->capturing) return ILLEGAL_STATE;
    delete stream;
    return SUCCESS;
}
CUresult cuStreamSynchronize(void* s) { return stream_sync_point(s); }
CUresult cuStreamQuery(void* s) {
    std::lock_guard lock(g_capture_mutex);
    if (EmuStream* c = capture_of(s)) { g_counters.syncs++; c->invalid = true; return STREAM_CAPTURE_UNSUPPORTED; }
    return SUCCESS;
}
CUresult cuEventCreate(void** e, unsigned) { *e = &g_event_dummy; return SUCCESS; }
CUresult cuEventDestroy_v2(void*) { return SUCCESS; }
CUresult cuEventRecord(void*, void* stream) {
    std::lock_guard lock(g_capture_mutex);
    EmuStream* s = capture_of(stream);
    return s && s->invalid ? STREAM_CAPTURE_INVALIDATED : SUCCESS;
}
// Work runs when it is queued here, so whatever an event captured has completed by the time anything waits on it:
// the wait is satisfied at once (counted, so tests see that the engine orders its copy stream against the compute
// stream). A stream whose capture was invalidated reports it, as cuEventRecord does.
CUresult cuStreamWaitEvent(void* stream, void* event, unsigned flags) {
    if (!event) return INVALID_HANDLE;
    if (flags != 0 && flags != 1) return INVALID_VALUE;  // CU_EVENT_WAIT_DEFAULT, CU_EVENT_WAIT_EXTERNAL
    std::lock_guard lock(g_capture_mutex);
    EmuStream* s = capture_of(stream);
    if (s && s->invalid) return STREAM_CAPTURE_INVALIDATED;
    g_counters.stream_waits++;
    return SUCCESS;
}
CUresult cuEventSynchronize(void*) { return sync_point(); }
CUresult cuEventQuery(void*) {
    std::lock_guard lock(g_capture_mutex);
    if (t_capture && t_capture->capturing) { g_counters.syncs++; t_capture->invalid = true; return STREAM_CAPTURE_UNSUPPORTED; }
    return SUCCESS;
}
CUresult cuEventElapsedTime(float* ms, void*, void*) { *ms = 0; return SUCCESS; }

// cuMemAlloc is legal during capture (it is not a stream operation; the engine avoids it anyway, and the counter
// shows whether it did); cuMemFree may synchronise, so it is a sync point.
CUresult cuMemAlloc_v2(uint64_t* ptr, size_t bytes) {
    std::lock_guard lock(g_memory_mutex);
    if (bytes == 0) return INVALID_VALUE;
    if (g_allocated + bytes > memory_limit()) return OUT_OF_MEMORY;
    Mapping m;
    void* p = guarded_alloc(bytes, m);
    if (!p) return OUT_OF_MEMORY;
    g_allocations[(uintptr_t)p] = m;
    g_allocated += bytes;
    g_counters.allocations++;
    record_peak();
    *ptr = (uint64_t)(uintptr_t)p;
    return SUCCESS;
}

CUresult cuMemFree_v2(uint64_t ptr) {
    if (CUresult r = maybe_sync_point(); r != SUCCESS) return r;
    std::lock_guard lock(g_memory_mutex);
    auto it = g_allocations.find((uintptr_t)ptr);
    if (it == g_allocations.end()) return INVALID_VALUE;
    g_allocated -= it->second.size;
    munmap(it->second.base, it->second.length);
    g_allocations.erase(it);
    g_counters.frees++;
    return SUCCESS;
}

CUresult cuMemAllocHost_v2(void** p, size_t bytes) {
    size_t rounded = (bytes + 4095) / 4096 * 4096;
    *p = std::aligned_alloc(4096, rounded);
    if (!*p) return OUT_OF_MEMORY;
    std::lock_guard lock(g_pinned_mutex);
    g_pinned[(uintptr_t)*p] = rounded;
    return SUCCESS;
}
// cuMemHostAlloc: page-locked memory as cuMemAllocHost gives it (tracked as pinned, so copies from it may be captured);
// the flags are checked (PORTABLE 1, DEVICEMAP 2, WRITECOMBINED 4) but change nothing on the CPU. Counted in bytes.
CUresult cuMemHostAlloc(void** p, size_t bytes, unsigned flags) {
    if (flags & ~7u) return INVALID_VALUE;
    if (bytes == 0) return INVALID_VALUE;
    CUresult r = cuMemAllocHost_v2(p, bytes);
    if (r == SUCCESS) g_counters.host_alloc_bytes += (long)bytes;
    return r;
}
CUresult cuMemFreeHost(void* p) {
    if (CUresult r = maybe_sync_point(); r != SUCCESS) return r;
    {
        std::lock_guard lock(g_pinned_mutex);
        g_pinned.erase((uintptr_t)p);
    }
    std::free(p);
    return SUCCESS;
}

// A captured host copy reads (or writes) the host buffer when the graph runs, so only page-locked memory can be
// captured; the driver refuses pageable memory in a capture.
CUresult cuMemcpyHtoDAsync_v2(uint64_t dst, const void* src, size_t n, void* stream) {
    bool pinned = is_pinned(src, n);
    return enqueue(stream, [=]() -> CUresult {
        g_counters.host_to_device++;
        if (!pinned) g_counters.pageable_host_to_device++;
        std::memcpy((void*)(uintptr_t)dst, src, n);
        return SUCCESS;
    }, pinned);
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, uint64_t src, size_t n, void* stream) {
    return enqueue(stream, [=]() -> CUresult { std::memcpy(dst, (const void*)(uintptr_t)src, n); return SUCCESS; }, is_pinned(dst, n));
}
CUresult cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void* stream) {
    return enqueue(stream, [=]() -> CUresult { std::memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n); return SUCCESS; });
}
// cuMemcpy2DAsync_v2: CUDA_MEMCPY2D in cuda.h's v2 layout. The driver's checks that apply to linear memory, in its
// order: arrays are not emulated (CUDA_ERROR_INVALID_VALUE), WidthInBytes + XInBytes must fit each pitch when there is
// more than one row, and no pitch may exceed CU_DEVICE_ATTRIBUTE_MAX_PITCH (2^31 - 1 on every supported GPU):
// CUDA_ERROR_INVALID_PITCH_VALUE. A host side must be page-locked to be captured, as for cuMemcpyHtoDAsync. Rows are
// copied one after another; g_memcpy2d counts the copies that ran (fake_cuda_memcpy2d_count). FAKE_CUDA_REFUSE_MEMCPY2D=1
// (or fake_cuda_configure) makes every call return CUDA_ERROR_INVALID_PITCH_VALUE, as the driver may for device
// pitches cuMemAllocPitch did not choose, so a caller's fallback can be tested.
struct CUDA_MEMCPY2D {
    size_t srcXInBytes, srcY;
    int srcMemoryType;
    const void* srcHost;
    uint64_t srcDevice;
    void* srcArray;
    size_t srcPitch;
    size_t dstXInBytes, dstY;
    int dstMemoryType;
    void* dstHost;
    uint64_t dstDevice;
    void* dstArray;
    size_t dstPitch;
    size_t WidthInBytes, Height;
};
enum : int { MEMORYTYPE_HOST = 1, MEMORYTYPE_DEVICE = 2, MEMORYTYPE_ARRAY = 3, MEMORYTYPE_UNIFIED = 4, INVALID_PITCH_VALUE = 12 };
std::atomic<long> g_memcpy2d{0};
std::atomic<int> g_refuse_memcpy2d{-1};  // -1: read FAKE_CUDA_REFUSE_MEMCPY2D on first use

bool refuses_memcpy2d() {
    int v = g_refuse_memcpy2d.load();
    if (v < 0) {
        const char* text = std::getenv("FAKE_CUDA_REFUSE_MEMCPY2D");
        v = text && std::strcmp(text, "1") == 0 ? 1 : 0;
        int expected = -1;
        g_refuse_memcpy2d.compare_exchange_strong(expected, v);
        v = g_refuse_memcpy2d.load();
    }
    return v == 1;
}

CUresult cuMemcpy2DAsync_v2(const CUDA_MEMCPY2D* c, void* stream) {
    if (!c) return INVALID_VALUE;
    const CUDA_MEMCPY2D p = *c;  // the driver reads the parameters at the call, not when the copy runs
    auto linear = [](int type) { return type == MEMORYTYPE_HOST || type == MEMORYTYPE_DEVICE || type == MEMORYTYPE_UNIFIED; };
    if (!linear(p.srcMemoryType) || !linear(p.dstMemoryType)) return INVALID_VALUE;
    const size_t kMaxPitch = 2147483647;
    if (p.srcPitch > kMaxPitch || p.dstPitch > kMaxPitch) return INVALID_PITCH_VALUE;
    if (p.Height > 1 && (p.srcXInBytes + p.WidthInBytes > p.srcPitch || p.dstXInBytes + p.WidthInBytes > p.dstPitch))
        return INVALID_PITCH_VALUE;
    if (refuses_memcpy2d()) return INVALID_PITCH_VALUE;
    const char* src = p.srcMemoryType == MEMORYTYPE_HOST ? (const char*)p.srcHost : (const char*)(uintptr_t)p.srcDevice;
    char* dst = p.dstMemoryType == MEMORYTYPE_HOST ? (char*)p.dstHost : (char*)(uintptr_t)p.dstDevice;
    src += p.srcY * p.srcPitch + p.srcXInBytes;
    dst += p.dstY * p.dstPitch + p.dstXInBytes;
    const size_t span = p.Height == 0 ? 0 : (p.Height - 1) * std::max(p.srcPitch, p.dstPitch) + p.WidthInBytes;
    const bool capturable = (p.srcMemoryType != MEMORYTYPE_HOST || is_pinned(src, span)) &&
                            (p.dstMemoryType != MEMORYTYPE_HOST || is_pinned(dst, span));
    return enqueue(stream, [=]() -> CUresult {
        for (size_t r = 0; r < p.Height; r++) std::memmove(dst + r * p.dstPitch, src + r * p.srcPitch, p.WidthInBytes);
        g_memcpy2d++;
        return SUCCESS;
    }, capturable);
}

CUresult cuMemsetD8Async(uint64_t dst, unsigned char v, size_t n, void* stream) {
    return enqueue(stream, [=]() -> CUresult { std::memset((void*)(uintptr_t)dst, v, n); return SUCCESS; });
}
CUresult cuMemsetD16Async(uint64_t dst, unsigned short v, size_t n, void* stream) {
    return enqueue(stream, [=]() -> CUresult {
        auto* p = (unsigned short*)(uintptr_t)dst;
        for (size_t i = 0; i < n; i++) p[i] = v;
        return SUCCESS;
    });
}
CUresult cuMemsetD32Async(uint64_t dst, unsigned v, size_t n, void* stream) {
    return enqueue(stream, [=]() -> CUresult {
        auto* p = (unsigned*)(uintptr_t)dst;
        for (size_t i = 0; i < n; i++) p[i] = v;
        return SUCCESS;
    });
}

// ---- modules --------------------------------------------------------------------------------------------
// cuModuleLoadData inspects the image as the driver would: a PTX text is refused when its ISA (.version) is newer
// than the driver accepts (CUDA_ERROR_UNSUPPORTED_PTX_VERSION) or its .target is newer than the device
// (CUDA_ERROR_NO_BINARY_FOR_GPU); a cubin (ELF) runs only on its own major architecture at a minor ≥ its own.
// The image's code itself is not used: kernels run from the g++ build, found by name.
struct EmuFunction {
    const EmuKernel* kernel;
    int max_dynamic_shared;
};
namespace {
struct EmuModule {
    std::mutex mutex;
    std::map<std::string, std::unique_ptr<EmuFunction>> functions;
};

// Writes `message` into a CU_JIT_ERROR_LOG_BUFFER option if the caller gave one (and its size back, as the driver does).
void write_error_log(unsigned count, const int* options, void** values, const std::string& message) {
    if (!options || !values) return;
    char* buffer = nullptr;
    size_t size = 0;
    int size_index = -1;
    for (unsigned i = 0; i < count; i++) {
        if (options[i] == 5) buffer = static_cast<char*>(values[i]);                       // CU_JIT_ERROR_LOG_BUFFER
        if (options[i] == 6) { size = (size_t)(uintptr_t)values[i]; size_index = (int)i; }  // ..._SIZE_BYTES
    }
    if (!buffer || size == 0) return;
    size_t n = std::min(message.size(), size - 1);
    std::memcpy(buffer, message.data(), n);
    buffer[n] = '\0';
    if (size_index >= 0) values[size_index] = (void*)(uintptr_t)(n + 1);
}

// Checks an image; on refusal returns the status and sets `log` to the driver-style explanation.
CUresult check_image(const void* image, std::string& log) {
    if (!image) { log = "no image"; return INVALID_VALUE; }
    const auto* bytes = static_cast<const unsigned char*>(image);
    const int device = arch_number();
    char text[256];
    if (bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F') {
        if (refuses(1)) {
            log = "FAKE_CUDA_REFUSE_IMAGES=cubin: cubin refused";
            return NO_BINARY_FOR_GPU;
        }
        if (bytes[4] != 2) { log = "cubin is not a 64-bit ELF"; return INVALID_IMAGE; }
        uint32_t flags;
        std::memcpy(&flags, bytes + 0x30, 4);
        // NVIDIA's cubin ABI v1 (EI_ABIVERSION 7) keeps the SM number in the low byte of e_flags; ABI v2
        // (EI_ABIVERSION 8, CUDA 12.8 and later) in bits 8..15.
        const int sm = bytes[8] == 8 ? (int)((flags >> 8) & 0xff) : (int)(flags & 0xff);
        if (sm / 10 != device / 10 || sm % 10 > device % 10) {
            std::snprintf(text, sizeof text, "cubin for sm_%d cannot run on an sm_%d device", sm, device);
            log = text;
            return NO_BINARY_FOR_GPU;
        }
        return SUCCESS;
    }
    // PTX: text up to the terminating NUL.
    const char* ptx = static_cast<const char*>(image);
    const char* version = std::strstr(ptx, ".version ");
    const char* target = std::strstr(ptx, ".target ");
    int isa_major, isa_minor, sm;
    if (!version || !target || std::sscanf(version, ".version %d.%d", &isa_major, &isa_minor) != 2 ||
        std::sscanf(target, ".target sm_%d", &sm) != 1) {
        log = "image is neither a cubin nor a PTX text with .version and .target sm_NN";
        return INVALID_IMAGE;
    }
    if (refuses(2)) {
        log = "FAKE_CUDA_REFUSE_IMAGES=ptx: PTX refused";
        return NO_BINARY_FOR_GPU;
    }
    const int newest = newest_ptx_isa(driver_version());
    if (isa_major * 10 + isa_minor > newest) {
        std::snprintf(text, sizeof text, "ptxas application ptx input, line 1; fatal   : Unsupported .version %d.%d; current version is '%d.%d' (driver %d)",
                      isa_major, isa_minor, newest / 10, newest % 10, driver_version());
        log = text;
        return UNSUPPORTED_PTX_VERSION;
    }
    // An architecture-specific target (sm_90a) runs only on exactly that architecture.
    const char* suffix = target + std::strlen(".target sm_");
    while (*suffix >= '0' && *suffix <= '9') suffix++;
    const bool specific = *suffix == 'a';
    if (sm > device || (specific && sm != device)) {
        std::snprintf(text, sizeof text, "PTX .target sm_%d%s cannot be compiled for an sm_%d device", sm, specific ? "a" : "", device);
        log = text;
        return NO_BINARY_FOR_GPU;
    }
    return SUCCESS;
}

CUresult load_module(void** m, const void* image, unsigned count, const int* options, void** values) {
    std::string log;
    CUresult r = check_image(image, log);
    if (r != SUCCESS) {
        write_error_log(count, options, values, log);
        if (std::getenv("FAKE_CUDA_TRACE")) std::fprintf(stderr, "[fake cuda] module refused: %s\n", log.c_str());
        return r;
    }
    *m = new EmuModule();
    return SUCCESS;
}
}  // namespace

CUresult cuModuleLoadData(void** m, const void* image) { return load_module(m, image, 0, nullptr, nullptr); }
CUresult cuModuleLoadDataEx(void** m, const void* image, unsigned count, int* options, void** values) {
    return load_module(m, image, count, options, values);
}
CUresult cuModuleUnload(void* m) {
    if (!m) return INVALID_HANDLE;
    delete static_cast<EmuModule*>(m);
    return SUCCESS;
}

CUresult cuModuleGetFunction(void** f, void* m, const char* name) {
    if (!m) return INVALID_HANDLE;
    auto* module = static_cast<EmuModule*>(m);
    std::lock_guard lock(module->mutex);
    auto it = module->functions.find(name);
    if (it == module->functions.end()) {
        for (int i = 0; i < emu_kernel_count; i++)
            if (std::strcmp(emu_kernels[i].name, name) == 0) {
                it = module->functions.emplace(name, std::make_unique<EmuFunction>(EmuFunction{&emu_kernels[i], kDefaultSharedPerBlock})).first;
                break;
            }
        if (it == module->functions.end()) return NOT_FOUND;
    }
    *f = it->second.get();
    return SUCCESS;
}

CUresult cuFuncGetAttribute(int* v, int attribute, void* f) {
    auto* fn = static_cast<EmuFunction*>(f);
    if (!fn) return INVALID_HANDLE;
    switch (attribute) {
        case 0: *v = 1024; break;                     // max threads per block
        case 4: *v = 64; break;                       // registers (unknown here)
        case 5: case 6: *v = arch_number(); break;    // PTX / binary version
        case 8: *v = fn->max_dynamic_shared; break;
        default: *v = 0; break;
    }
    return SUCCESS;
}

// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES may be raised up to the architecture's opt-in limit.
CUresult cuFuncSetAttribute(void* f, int attribute, int value) {
    auto* fn = static_cast<EmuFunction*>(f);
    if (!fn) return INVALID_HANDLE;
    if (attribute == 8) {
        if (value < 0 || value > arch().shared_optin) return INVALID_VALUE;
        fn->max_dynamic_shared = value;
    }
    return SUCCESS;
}

// ---- launches -------------------------------------------------------------------------------------------
namespace {
// One kernel runs at a time: blockIdx/blockDim/gridDim, the barriers, the dynamic shared memory, the fibers
// and the kernels' __shared__ statics are the one device's state. Launches from several host threads queue here.
std::mutex g_device_mutex;
}  // namespace

static CUresult run_kernel(EmuFunction* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                           unsigned shared, void** params) {
    std::lock_guard device(g_device_mutex);
    if (std::getenv("FAKE_CUDA_TRACE")) std::fprintf(stderr, "[fake cuda] %s grid (%u,%u,%u) block (%u,%u,%u) shared %u\n", fn->kernel->name, gx, gy, gz, bx, by, bz, shared);
    g_counters.launches++;
    const unsigned threads = bx * by * bz;
    std::vector<unsigned char> smem(shared + 16, 0xff);
    g_dynamic_smem = reinterpret_cast<unsigned char*>(((uintptr_t)smem.data() + 15) / 16 * 16);
    blockDim = dim3_{bx, by, bz};
    gridDim = dim3_{gx, gy, gz};
    const int warps = (int)((threads + 31) / 32);
    g_warp_slots.assign((size_t)warps * 256, 0);
    g_warp_slots2.assign((size_t)warps * 256, 0);
    g_launch = fn->kernel->launch;
    g_params = params;
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++) {
                blockIdx = uint3_{x, y, z};
                g_block_barrier = FiberBarrier{(int)threads, 0, 0};
                g_warp_barriers.assign((size_t)warps, FiberBarrier{});
                for (int w = 0; w < warps; w++) g_warp_barriers[(size_t)w].expected = (int)std::min(32u, threads - 32u * w);
                run_block(fn->kernel->name, (int)threads);
            }
    return SUCCESS;
}

CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void* stream, void** params, void**) {
    auto* fn = static_cast<EmuFunction*>(f);
    if (!fn) return INVALID_HANDLE;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) return INVALID_VALUE;
    if (gy > 65535 || gz > 65535 || bx > 1024 || by > 1024 || bz > 64) return INVALID_VALUE;
    if (bx * by * bz > 1024) return INVALID_VALUE;
    // Above 48 KiB only after cuFuncSetAttribute raised the function's limit, and never above the opt-in limit.
    if ((int)shared > fn->max_dynamic_shared || (int)shared > arch().shared_optin) return INVALID_VALUE;
    // Captured: the parameter values are copied now (the caller may reuse its argument storage), as the driver does.
    const EmuKernel* k = fn->kernel;
    auto values = std::make_shared<std::vector<std::vector<unsigned char>>>();
    {
        std::lock_guard lock(g_capture_mutex);
        if (!capture_of(stream)) values = nullptr;
    }
    if (!values) return run_kernel(fn, gx, gy, gz, bx, by, bz, shared, params);
    for (int i = 0; i < k->param_count; i++) {
        auto* src = static_cast<const unsigned char*>(params[i]);
        values->emplace_back(src, src + k->param_sizes[i]);
    }
    return enqueue(stream, [=]() -> CUresult {
        std::vector<void*> p;
        for (auto& v : *values) p.push_back(v.data());
        return run_kernel(fn, gx, gy, gz, bx, by, bz, shared, p.data());
    });
}

// ---- graphs -------------------------------------------------------------------------------------------
// A graph is the list of operations recorded between cuStreamBeginCapture and cuStreamEndCapture; an executable
// graph is a copy of it, run in order by cuGraphLaunch (the engine's captures are one stream: a linear chain).
namespace {
struct EmuGraph {
    std::vector<std::function<CUresult()>> ops;
};
}  // namespace

CUresult cuStreamBeginCapture_v2(void* stream, int mode) {
    if (!stream) return INVALID_VALUE;  // the legacy stream cannot be captured
    if (mode < kGlobal || mode > kRelaxed) return INVALID_VALUE;
    std::lock_guard lock(g_capture_mutex);
    auto* s = static_cast<EmuStream*>(stream);
    if (s->capturing) return ILLEGAL_STATE;
    if (mode != kRelaxed && t_capture && t_capture->capturing) return ILLEGAL_STATE;  // one capture per thread here
    s->capturing = true;
    s->invalid = false;
    s->mode = mode;
    s->owner = std::this_thread::get_id();
    s->recording = new std::vector<std::function<CUresult()>>();
    if (mode != kRelaxed) t_capture = s;
    if (mode == kGlobal) g_global_captures++;
    return SUCCESS;
}

CUresult cuStreamEndCapture(void* stream, void** graph) {
    std::lock_guard lock(g_capture_mutex);
    auto* s = static_cast<EmuStream*>(stream);
    if (!s || !s->capturing) return ILLEGAL_STATE;
    if (s->mode != kRelaxed && s->owner != std::this_thread::get_id()) return STREAM_CAPTURE_WRONG_THREAD;
    s->capturing = false;
    if (t_capture == s) t_capture = nullptr;
    if (s->mode == kGlobal) g_global_captures--;
    std::unique_ptr<std::vector<std::function<CUresult()>>> ops(s->recording);
    s->recording = nullptr;
    *graph = nullptr;
    if (s->invalid) return STREAM_CAPTURE_INVALIDATED;
    g_counters.captures++;
    *graph = new EmuGraph{std::move(*ops)};
    return SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(void** exec, void* graph, unsigned long long) {
    if (!graph) return INVALID_VALUE;
    *exec = new EmuGraph(*static_cast<EmuGraph*>(graph));
    return SUCCESS;
}

CUresult cuGraphLaunch(void* exec, void* stream) {
    if (!exec) return INVALID_HANDLE;
    auto* g = static_cast<EmuGraph*>(exec);
    return enqueue(stream, [g]() -> CUresult {
        g_counters.graph_launches++;
        for (auto& op : g->ops) {
            CUresult r = op();
            if (r != SUCCESS) return r;
        }
        return SUCCESS;
    });
}

CUresult cuGraphExecDestroy(void* exec) { delete static_cast<EmuGraph*>(exec); return SUCCESS; }
CUresult cuGraphDestroy(void* graph) { delete static_cast<EmuGraph*>(graph); return SUCCESS; }

// Only a graph with the same number of operations may replace an executable graph's parameters (the topology
// check of the real driver, simplified); otherwise CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE with result 2 (topology changed).
CUresult cuGraphExecUpdate_v2(void* exec, void* graph, int* info) {
    auto* e = static_cast<EmuGraph*>(exec);
    auto* g = static_cast<EmuGraph*>(graph);
    if (!e || !g) return INVALID_VALUE;
    if (e->ops.size() != g->ops.size()) {
        if (info) info[0] = 2;
        return GRAPH_EXEC_UPDATE_FAILURE;
    }
    e->ops = g->ops;
    if (info) info[0] = 0;
    return SUCCESS;
}

// For tests: sets a knob of README.md in this process, as if the environment had said so ("FAKE_CUDA_CC",
// "FAKE_CUDA_DRIVER_VERSION", "FAKE_CUDA_REFUSE_IMAGES"); value null or "" goes back to what the environment says.
// Returns CUDA_ERROR_INVALID_VALUE for an unknown knob or value. A backend does not see a device property changed
// after it read it: change FAKE_CUDA_CC only for code that queries the device afterwards.
CUresult fake_cuda_configure(const char* name, const char* value) {
    if (!name) return INVALID_VALUE;
    const bool reset = !value || !*value;
    if (std::strcmp(name, "FAKE_CUDA_CC") == 0) {
        const Arch* a = reset ? nullptr : parse_arch(value);
        if (!reset && !a) return INVALID_VALUE;
        g_arch = a;
    } else if (std::strcmp(name, "FAKE_CUDA_DRIVER_VERSION") == 0) {
        int d = reset ? 0 : parse_driver_version(value);
        if (d < 0) return INVALID_VALUE;
        g_driver = d;
    } else if (std::strcmp(name, "FAKE_CUDA_REFUSE_MEMCPY2D") == 0) {
        if (!reset && std::strcmp(value, "0") != 0 && std::strcmp(value, "1") != 0) return INVALID_VALUE;
        g_refuse_memcpy2d = reset ? -1 : value[0] - '0';
    } else if (std::strcmp(name, "FAKE_CUDA_REFUSE_IMAGES") == 0) {
        int r = reset ? -2 : parse_refused(value);
        if (r < 0 && !reset) return INVALID_VALUE;
        g_refused = r;
    } else {
        return INVALID_VALUE;
    }
    return SUCCESS;
}

// For tests: number of 2D copies (cuMemcpy2DAsync_v2) that ran so far (eagerly or by graph replays).
long fake_cuda_memcpy2d_count() { return g_memcpy2d; }

// For tests: number of kernels launched so far (eagerly or by graph replays).
long fake_cuda_launch_count() { return g_counters.launches; }

// For tests: counters[0..7] = kernel launches, graph launches, completed captures, synchronising calls,
// cuMemAlloc calls, cuMemFree calls, host-to-device copies, of which from pageable memory. Process-wide: tests
// that compare them run one at a time (the CUDA device test collection).
void fake_cuda_counters(long* counters) {
    counters[0] = g_counters.launches;
    counters[1] = g_counters.graph_launches;
    counters[2] = g_counters.captures;
    counters[3] = g_counters.syncs;
    counters[4] = g_counters.allocations;
    counters[5] = g_counters.frees;
    counters[6] = g_counters.host_to_device;
    counters[7] = g_counters.pageable_host_to_device;
}

// For tests: counters[0..1] = cuStreamWaitEvent calls, bytes allocated by cuMemHostAlloc (both process-wide, cumulative).
void fake_cuda_stream_counters(long* counters) {
    counters[0] = g_counters.stream_waits;
    counters[1] = g_counters.host_alloc_bytes;
}
}
