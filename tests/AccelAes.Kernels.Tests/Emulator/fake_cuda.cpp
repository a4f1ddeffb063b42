// fake_cuda.cpp — a CPU stand-in for libcuda.so.1 that runs the AccelAes kernels compiled by g++ (test
// infrastructure, see README.md). Implements the driver entry points the engine binds (CuNative), with
// device memory = host memory between guard pages, every call synchronous, and cuLaunchKernel running the
// g++-compiled kernel of that name block by block (emu.h describes the thread model).
//
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
};
extern const EmuKernel emu_kernels[];
extern const int emu_kernel_count;

typedef int CUresult;
enum : int {
    SUCCESS = 0, INVALID_VALUE = 1, OUT_OF_MEMORY = 2, NOT_INITIALIZED = 3, INVALID_DEVICE = 101,
    INVALID_HANDLE = 400, NOT_FOUND = 500, LAUNCH_OUT_OF_RESOURCES = 701, NOT_SUPPORTED = 801,
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

static int g_context_dummy;
CUresult cuDevicePrimaryCtxRetain(void** ctx, int) { *ctx = &g_context_dummy; return SUCCESS; }
CUresult cuDevicePrimaryCtxRelease_v2(int) { return SUCCESS; }
CUresult cuCtxSetCurrent(void*) { return SUCCESS; }
CUresult cuCtxGetCurrent(void** ctx) { *ctx = &g_context_dummy; return SUCCESS; }
CUresult cuCtxSynchronize() { return SUCCESS; }

CUresult cuMemGetInfo_v2(size_t* free, size_t* total) {
    std::lock_guard lock(g_memory_mutex);
    *total = memory_limit();
    *free = *total > g_allocated ? *total - g_allocated : 0;
    return SUCCESS;
}

static int g_stream_dummy, g_event_dummy;
CUresult cuStreamCreate(void** s, unsigned) { *s = &g_stream_dummy; return SUCCESS; }
CUresult cuStreamDestroy_v2(void*) { return SUCCESS; }
CUresult cuStreamSynchronize(void*) { return SUCCESS; }
CUresult cuStreamQuery(void*) { return SUCCESS; }
CUresult cuEventCreate(void** e, unsigned) { *e = &g_event_dummy; return SUCCESS; }
CUresult cuEventDestroy_v2(void*) { return SUCCESS; }
CUresult cuEventRecord(void*, void*) { return SUCCESS; }
CUresult cuEventSynchronize(void*) { return SUCCESS; }
CUresult cuEventQuery(void*) { return SUCCESS; }
CUresult cuEventElapsedTime(float* ms, void*, void*) { *ms = 0; return SUCCESS; }

CUresult cuMemAlloc_v2(uint64_t* ptr, size_t bytes) {
    std::lock_guard lock(g_memory_mutex);
    if (bytes == 0) return INVALID_VALUE;
    if (g_allocated + bytes > memory_limit()) return OUT_OF_MEMORY;
    Mapping m;
    void* p = guarded_alloc(bytes, m);
    if (!p) return OUT_OF_MEMORY;
    g_allocations[(uintptr_t)p] = m;
    g_allocated += bytes;
    *ptr = (uint64_t)(uintptr_t)p;
    return SUCCESS;
}

CUresult cuMemFree_v2(uint64_t ptr) {
    std::lock_guard lock(g_memory_mutex);
    auto it = g_allocations.find((uintptr_t)ptr);
    if (it == g_allocations.end()) return INVALID_VALUE;
    g_allocated -= it->second.size;
    munmap(it->second.base, it->second.length);
    g_allocations.erase(it);
    return SUCCESS;
}

CUresult cuMemAllocHost_v2(void** p, size_t bytes) { *p = std::aligned_alloc(4096, (bytes + 4095) / 4096 * 4096); return *p ? SUCCESS : OUT_OF_MEMORY; }
CUresult cuMemFreeHost(void* p) { std::free(p); return SUCCESS; }
CUresult cuMemcpyHtoDAsync_v2(uint64_t dst, const void* src, size_t n, void*) { std::memcpy((void*)(uintptr_t)dst, src, n); return SUCCESS; }
CUresult cuMemcpyDtoHAsync_v2(void* dst, uint64_t src, size_t n, void*) { std::memcpy(dst, (const void*)(uintptr_t)src, n); return SUCCESS; }
CUresult cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void*) { std::memmove((void*)(uintptr_t)dst, (const void*)(uintptr_t)src, n); return SUCCESS; }
CUresult cuMemsetD8Async(uint64_t dst, unsigned char v, size_t n, void*) { std::memset((void*)(uintptr_t)dst, v, n); return SUCCESS; }
CUresult cuMemsetD16Async(uint64_t dst, unsigned short v, size_t n, void*) {
    auto* p = (unsigned short*)(uintptr_t)dst;
    for (size_t i = 0; i < n; i++) p[i] = v;
    return SUCCESS;
}
CUresult cuMemsetD32Async(uint64_t dst, unsigned v, size_t n, void*) {
    auto* p = (unsigned*)(uintptr_t)dst;
    for (size_t i = 0; i < n; i++) p[i] = v;
    return SUCCESS;
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

static long g_launches = 0;

CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void*, void** params, void**) {
    auto* fn = static_cast<EmuFunction*>(f);
    if (!fn) return INVALID_HANDLE;
    if (gx == 0 || gy == 0 || gz == 0 || bx == 0 || by == 0 || bz == 0) return INVALID_VALUE;
    if (gy > 65535 || gz > 65535 || bx > 1024 || by > 1024 || bz > 64) return INVALID_VALUE;
    const unsigned threads = bx * by * bz;
    if (threads > 1024) return INVALID_VALUE;
    if ((int)shared > fn->max_dynamic_shared) return INVALID_VALUE;
    if (std::getenv("FAKE_CUDA_TRACE")) std::fprintf(stderr, "[fake cuda] %s grid (%u,%u,%u) block (%u,%u,%u) shared %u\n", fn->kernel->name, gx, gy, gz, bx, by, bz, shared);
    g_launches++;

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

// Graphs are not emulated.
CUresult cuStreamBeginCapture_v2(void*, int) { return NOT_SUPPORTED; }
CUresult cuStreamEndCapture(void*, void**) { return NOT_SUPPORTED; }
CUresult cuGraphInstantiateWithFlags(void**, void*, unsigned long long) { return NOT_SUPPORTED; }
CUresult cuGraphLaunch(void*, void*) { return NOT_SUPPORTED; }
CUresult cuGraphExecDestroy(void*) { return NOT_SUPPORTED; }
CUresult cuGraphDestroy(void*) { return NOT_SUPPORTED; }
CUresult cuGraphExecUpdate_v2(void*, void*, void*) { return NOT_SUPPORTED; }

// For tests: number of kernels launched so far.
long fake_cuda_launch_count() { return g_launches; }
}
