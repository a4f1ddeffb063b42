// fake_cuda.cpp — a CPU stand-in for libcuda.so.1 that runs the AccelAes kernels compiled by g++ (test
// infrastructure, see README.md). Implements the driver entry points the engine binds (CuNative), with
// device memory = host memory between guard pages, every call synchronous, and cuLaunchKernel running the
// g++-compiled kernel of that name block by block (emu.h describes the thread model).
//
// Stream capture records asynchronous work into graphs that cuGraphLaunch replays (see the section below).
// It checks what the real driver checks and a few things it would only show as corruption: launch
// dimensions, dynamic shared memory above 48 KiB without cuFuncSetAttribute, accesses past either end of an
// allocation (guard pages: the process dies with SIGSEGV, loudly), use of freed memory (unmapped).
// FAKE_CUDA_MEMORY_LIMIT (bytes) caps device memory, to exercise out-of-memory paths.
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
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
    INVALID_HANDLE = 400, ILLEGAL_STATE = 401, NOT_FOUND = 500, LAUNCH_OUT_OF_RESOURCES = 701, NOT_SUPPORTED = 801,
    STREAM_CAPTURE_UNSUPPORTED = 900, STREAM_CAPTURE_INVALIDATED = 901, GRAPH_EXEC_UPDATE_FAILURE = 910,
};

// ---- thread model ---------------------------------------------------------------------------------
thread_local uint3_ threadIdx;
uint3_ blockIdx;
dim3_ blockDim;
dim3_ gridDim;

namespace {
thread_local int t_index;  // linear thread index in the block
unsigned char* g_dynamic_smem;
std::unique_ptr<std::barrier<>> g_block_barrier;
std::vector<std::unique_ptr<std::barrier<>>> g_warp_barriers;
std::vector<uint64_t> g_warp_slots, g_warp_slots2;

class Pool {
public:
    void run(int n, const std::function<void(int)>& job) {
        while ((int)workers_.size() < n) {
            int i = (int)workers_.size();
            workers_.emplace_back([this, i] { loop(i); });
        }
        {
            std::unique_lock lock(m_);
            job_ = &job;
            active_ = n;
            remaining_ = n;
            generation_++;
        }
        start_.notify_all();
        std::unique_lock lock(m_);
        done_.wait(lock, [this] { return remaining_ == 0; });
    }

private:
    void loop(int i) {
        uint64_t seen = 0;
        for (;;) {
            const std::function<void(int)>* job;
            {
                std::unique_lock lock(m_);
                start_.wait(lock, [&] { return generation_ != seen; });
                seen = generation_;
                if (i >= active_) continue;
                job = job_;
            }
            (*job)(i);
            std::unique_lock lock(m_);
            if (--remaining_ == 0) done_.notify_one();
        }
    }

    std::vector<std::thread> workers_;
    std::mutex m_;
    std::condition_variable start_, done_;
    const std::function<void(int)>* job_ = nullptr;
    uint64_t generation_ = 0;
    int active_ = 0, remaining_ = 0;
};

Pool& pool() {
    static Pool* p = new Pool();  // never destroyed: workers live as long as the process
    return *p;
}
}  // namespace

void __syncthreads() { g_block_barrier->arrive_and_wait(); }
void emu_warp_sync() { g_warp_barriers[t_index / 32]->arrive_and_wait(); }
uint64_t* emu_warp_slots() { return &g_warp_slots[(size_t)(t_index / 32) * 256]; }
uint64_t* emu_warp_slots2() { return &g_warp_slots2[(size_t)(t_index / 32) * 256]; }
unsigned char* emu_dynamic_smem() { return g_dynamic_smem; }
int emu_lane() { return t_index % 32; }

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
const size_t kPage = 4096;

size_t memory_limit() {
    const char* v = std::getenv("FAKE_CUDA_MEMORY_LIMIT");
    return v ? (size_t)std::strtoull(v, nullptr, 10) : (size_t)16 << 30;
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

CUresult cuInit(unsigned) { return SUCCESS; }
CUresult cuDriverGetVersion(int* v) { *v = 12040; return SUCCESS; }

CUresult cuGetErrorName(CUresult e, const char** s) {
    switch (e) {
        case SUCCESS: *s = "CUDA_SUCCESS"; break;
        case INVALID_VALUE: *s = "CUDA_ERROR_INVALID_VALUE"; break;
        case OUT_OF_MEMORY: *s = "CUDA_ERROR_OUT_OF_MEMORY"; break;
        case NOT_FOUND: *s = "CUDA_ERROR_NOT_FOUND"; break;
        case NOT_SUPPORTED: *s = "CUDA_ERROR_NOT_SUPPORTED"; break;
        case LAUNCH_OUT_OF_RESOURCES: *s = "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"; break;
        case INVALID_HANDLE: *s = "CUDA_ERROR_INVALID_HANDLE"; break;
        case ILLEGAL_STATE: *s = "CUDA_ERROR_ILLEGAL_STATE"; break;
        case STREAM_CAPTURE_UNSUPPORTED: *s = "CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED"; break;
        case STREAM_CAPTURE_INVALIDATED: *s = "CUDA_ERROR_STREAM_CAPTURE_INVALIDATED"; break;
        case GRAPH_EXEC_UPDATE_FAILURE: *s = "CUDA_ERROR_GRAPH_EXEC_UPDATE_FAILURE"; break;
        default: *s = "CUDA_ERROR_UNKNOWN"; break;
    }
    return SUCCESS;
}
CUresult cuGetErrorString(CUresult e, const char** s) { return cuGetErrorName(e, s); }

CUresult cuDeviceGetCount(int* c) { *c = 1; return SUCCESS; }
CUresult cuDeviceGet(int* d, int ordinal) { if (ordinal != 0) return INVALID_DEVICE; *d = 0; return SUCCESS; }
CUresult cuDeviceGetName(char* name, int len, int) { std::snprintf(name, (size_t)len, "AccelAes CPU emulator (sm_80)"); return SUCCESS; }

CUresult cuDeviceGetAttribute(int* v, int attribute, int) {
    switch (attribute) {
        case 1: *v = 1024; break;          // max threads per block
        case 8: *v = 48 * 1024; break;     // max shared per block
        case 10: *v = 32; break;           // warp size
        case 13: *v = 1410000; break;      // clock kHz
        case 16: *v = 2; break;            // SMs
        case 36: *v = 1215000; break;      // memory clock kHz
        case 37: *v = 5120; break;         // bus width
        case 38: *v = 40 << 20; break;     // L2
        case 39: *v = 2048; break;         // threads per SM
        case 75: *v = 8; break;            // CC major
        case 76: *v = 0; break;            // CC minor
        case 81: *v = 167936; break;       // shared per SM
        case 82: *v = 65536; break;        // registers per SM
        case 97: *v = 166912; break;       // shared per block opt-in
        default: *v = 0; break;
    }
    return SUCCESS;
}
CUresult cuDeviceTotalMem_v2(size_t* bytes, int) { *bytes = memory_limit(); return SUCCESS; }

// ---- stream capture state ----------------------------------------------------------------------------
// One capture at a time (the engine has one stream). While it is active, asynchronous work on the stream is
// recorded instead of run; synchronising calls invalidate it (as on hardware: the capture then ends with
// CUDA_ERROR_STREAM_CAPTURE_INVALIDATED), and the synchronising call itself fails with
// CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED. Counters let tests assert what a denoising step did.
namespace {
struct Counters {
    long launches = 0, graph_launches = 0, captures = 0, syncs = 0, allocations = 0, frees = 0, host_to_device = 0,
         pageable_host_to_device = 0;
};
Counters g_counters;
bool g_capturing = false;
bool g_capture_invalid = false;
void* g_capture_stream = nullptr;
std::vector<std::function<CUresult()>>* g_recording = nullptr;
std::mutex g_pinned_mutex;
std::map<uintptr_t, size_t> g_pinned;  // page-locked host allocations: start → bytes

bool capturing(void* stream) { return g_capturing && (stream == g_capture_stream || stream == nullptr); }

// A call that would wait for the device: fails and invalidates an active capture.
CUresult sync_point() {
    g_counters.syncs++;
    if (!g_capturing) return SUCCESS;
    g_capture_invalid = true;
    return STREAM_CAPTURE_UNSUPPORTED;
}

bool is_pinned(const void* p, size_t n) {
    std::lock_guard lock(g_pinned_mutex);
    auto it = g_pinned.upper_bound((uintptr_t)p);
    if (it == g_pinned.begin()) return false;
    --it;
    return (uintptr_t)p + n <= it->first + it->second;
}

// Runs `op` now, or records it when the stream is capturing (copies from pageable memory cannot be captured).
CUresult enqueue(void* stream, std::function<CUresult()> op) {
    if (!capturing(stream)) return op();
    if (g_capture_invalid) return STREAM_CAPTURE_INVALIDATED;
    g_recording->push_back(std::move(op));
    return SUCCESS;
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

static int g_stream_dummy, g_event_dummy;
CUresult cuStreamCreate(void** s, unsigned) { *s = &g_stream_dummy; return SUCCESS; }
CUresult cuStreamDestroy_v2(void*) { return SUCCESS; }
CUresult cuStreamSynchronize(void*) { return sync_point(); }
CUresult cuStreamQuery(void*) { return g_capturing ? sync_point() : SUCCESS; }
CUresult cuEventCreate(void** e, unsigned) { *e = &g_event_dummy; return SUCCESS; }
CUresult cuEventDestroy_v2(void*) { return SUCCESS; }
CUresult cuEventRecord(void*, void*) { return g_capture_invalid && g_capturing ? STREAM_CAPTURE_INVALIDATED : SUCCESS; }
CUresult cuEventSynchronize(void*) { return sync_point(); }
CUresult cuEventQuery(void*) { return g_capturing ? sync_point() : SUCCESS; }
CUresult cuEventElapsedTime(float* ms, void*, void*) { *ms = 0; return SUCCESS; }

// cuMemAlloc is legal during capture (it is not a stream operation; the engine avoids it anyway, and the counter
// shows whether it did); cuMemFree may synchronise, so it invalidates a capture.
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
    *ptr = (uint64_t)(uintptr_t)p;
    return SUCCESS;
}

CUresult cuMemFree_v2(uint64_t ptr) {
    if (g_capturing) return sync_point();
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
CUresult cuMemFreeHost(void* p) {
    if (g_capturing) return sync_point();
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
    if (capturing(stream) && !pinned) { g_capture_invalid = true; return STREAM_CAPTURE_UNSUPPORTED; }
    return enqueue(stream, [=]() -> CUresult {
        g_counters.host_to_device++;
        if (!pinned) g_counters.pageable_host_to_device++;
        std::memcpy((void*)(uintptr_t)dst, src, n);
        return SUCCESS;
    });
}
CUresult cuMemcpyDtoHAsync_v2(void* dst, uint64_t src, size_t n, void* stream) {
    if (capturing(stream) && !is_pinned(dst, n)) { g_capture_invalid = true; return STREAM_CAPTURE_UNSUPPORTED; }
    return enqueue(stream, [=]() -> CUresult { std::memcpy(dst, (const void*)(uintptr_t)src, n); return SUCCESS; });
}
CUresult cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void* stream) {
    return enqueue(stream, [=]() -> CUresult { std::memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n); return SUCCESS; });
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

// ---- modules and launches ---------------------------------------------------------------------------
struct EmuFunction {
    const EmuKernel* kernel;
    int max_dynamic_shared;
};
static std::map<std::string, EmuFunction*> g_functions;
static int g_module_dummy;

CUresult cuModuleLoadData(void** m, const void*) { *m = &g_module_dummy; return SUCCESS; }
CUresult cuModuleLoadDataEx(void** m, const void*, unsigned, void*, void**) { *m = &g_module_dummy; return SUCCESS; }
CUresult cuModuleUnload(void*) { return SUCCESS; }

CUresult cuModuleGetFunction(void** f, void*, const char* name) {
    auto it = g_functions.find(name);
    if (it == g_functions.end()) {
        for (int i = 0; i < emu_kernel_count; i++)
            if (std::strcmp(emu_kernels[i].name, name) == 0) {
                it = g_functions.emplace(name, new EmuFunction{&emu_kernels[i], 48 * 1024}).first;
                break;
            }
        if (it == g_functions.end()) return NOT_FOUND;
    }
    *f = it->second;
    return SUCCESS;
}

CUresult cuFuncGetAttribute(int* v, int attribute, void* f) {
    auto* fn = static_cast<EmuFunction*>(f);
    switch (attribute) {
        case 0: *v = 1024; break;                     // max threads per block
        case 4: *v = 64; break;                       // registers (unknown here)
        case 5: case 6: *v = 80; break;               // PTX / binary version
        case 8: *v = fn->max_dynamic_shared; break;
        default: *v = 0; break;
    }
    return SUCCESS;
}

CUresult cuFuncSetAttribute(void* f, int attribute, int value) {
    auto* fn = static_cast<EmuFunction*>(f);
    if (attribute == 8) {
        if (value > 166912) return INVALID_VALUE;
        fn->max_dynamic_shared = value;
    }
    return SUCCESS;
}

static CUresult run_kernel(EmuFunction* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                           unsigned shared, void** params) {
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
    auto launch = fn->kernel->launch;
    std::function<void(int)> job = [&](int i) {
        t_index = i;
        threadIdx = uint3_{i % bx, (i / bx) % by, i / (bx * by)};
        launch(params);
        g_block_barrier->arrive_and_drop();
        g_warp_barriers[i / 32]->arrive_and_drop();
    };
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned x = 0; x < gx; x++) {
                blockIdx = uint3_{x, y, z};
                g_block_barrier = std::make_unique<std::barrier<>>((std::ptrdiff_t)threads);
                g_warp_barriers.clear();
                for (int w = 0; w < warps; w++)
                    g_warp_barriers.push_back(std::make_unique<std::barrier<>>((std::ptrdiff_t)std::min(32u, threads - 32u * w)));
                pool().run((int)threads, job);
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
    if ((int)shared > fn->max_dynamic_shared) return INVALID_VALUE;
    if (!capturing(stream)) return run_kernel(fn, gx, gy, gz, bx, by, bz, shared, params);
    // Captured: the parameter values are copied now (the caller may reuse its argument storage), as the driver does.
    const EmuKernel* k = fn->kernel;
    auto values = std::make_shared<std::vector<std::vector<unsigned char>>>();
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

CUresult cuStreamBeginCapture_v2(void* stream, int) {
    if (g_capturing) return ILLEGAL_STATE;
    g_capturing = true;
    g_capture_invalid = false;
    g_capture_stream = stream;
    g_recording = new std::vector<std::function<CUresult()>>();
    return SUCCESS;
}

CUresult cuStreamEndCapture(void* stream, void** graph) {
    if (!g_capturing || stream != g_capture_stream) return ILLEGAL_STATE;
    g_capturing = false;
    std::unique_ptr<std::vector<std::function<CUresult()>>> ops(g_recording);
    g_recording = nullptr;
    *graph = nullptr;
    if (g_capture_invalid) return STREAM_CAPTURE_INVALIDATED;
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

// For tests: number of kernels launched so far (eagerly or by graph replays).
long fake_cuda_launch_count() { return g_counters.launches; }

// For tests: counters[0..7] = kernel launches, graph launches, completed captures, synchronising calls,
// cuMemAlloc calls, cuMemFree calls, host-to-device copies, of which from pageable memory.
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
}
