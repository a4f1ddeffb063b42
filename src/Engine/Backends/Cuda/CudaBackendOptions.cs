using AccelAes.Kernels.Compilation;

namespace AccelAes.Engine.Backends.Cuda;

/// <summary>Construction options of <see cref="CudaBackend"/>. The defaults are the product configuration.</summary>
public sealed record CudaBackendOptions
{
    /// <summary>CUDA device ordinal.</summary>
    public int Device { get; init; }

    /// <summary>Use cuBLASLt for Linear and Conv2d when it is installed (otherwise, and when this is false, gemm.cu).</summary>
    public bool UseCublasLt { get; init; } = true;

    /// <summary>cuBLASLt workspace (32 MiB is NVIDIA's recommendation for Hopper).</summary>
    public ulong CublasWorkspaceBytes { get; init; } = 32UL << 20;

    /// <summary>Size of each of the two pinned staging buffers used by uploads and downloads.</summary>
    public ulong StagingChunkBytes { get; init; } = 64UL << 20;

    /// <summary>Fresh device allocations between two garbage collections that return undisposed tensors' memory; null: 1/8 of device memory.</summary>
    public ulong? ReclaimThresholdBytes { get; init; }

    /// <summary>Most device memory this backend may hold (tensors, cached blocks, workspaces); null: what the device has.
    /// An allocation beyond it fails like a real out-of-memory error (leave room for other processes, test OOM paths).</summary>
    public ulong? MemoryLimitBytes { get; init; }

    /// <summary>Column chunk budget of Conv2d's im2col + fp32 GEMM buffers.</summary>
    public ulong ConvolutionScratchBytes { get; init; } = 256UL << 20;

    /// <summary>Synchronize the stream after every op, so an asynchronous kernel fault is reported by the op that caused it (selftest, debugging).</summary>
    public bool SynchronizeEachOp { get; init; }

    /// <summary>Fill every new tensor with NaN bits before the op writes it, so an element an op forgets to write shows up (tests, selftest).</summary>
    public bool PoisonNewTensors { get; init; }

    /// <summary>
    /// Capture each denoising step's transformer forward as a CUDA graph once its shapes are fixed, and replay it
    /// every step (see README.md, "CUDA graphs"). Off: every step runs op by op. A capture that fails falls back
    /// to eager execution with a warning naming the op.
    /// </summary>
    public bool UseGraphs { get; init; } = true;

    /// <summary>Always use the reference attention kernel (for cross-checks).</summary>
    public bool ForceReferenceAttention { get; init; }

    /// <summary>
    /// Run every flash attention call with this variant of attention.cu (tests, benchmarks); null: the plan picks one
    /// from the device's limits and the call's shape (<see cref="AttentionPlan.ChooseVariant"/>).
    /// </summary>
    public FlashVariant? FlashAttentionVariant { get; init; }

    /// <summary>
    /// Split-KV attention (issue 16): null lets the plan split the keys of calls whose grid is under ~2 waves
    /// (<see cref="AttentionPlan.ChooseKvSplits"/>), 1 never splits, n (2–16) splits every flash call n ways (tests,
    /// benchmarks). Environment: <c>ACCELAES_ATTENTION_KV_SPLITS</c> (<see cref="BackendFactory.KvSplitsVariable"/>).
    /// </summary>
    public int? AttentionKvSplits { get; init; }

    /// <summary>
    /// How a Linear with an fp8 weight runs (<c>--fp8-gemm</c>): <see cref="Fp8GemmMode.Auto"/> uses cuBLASLt's FP8 GEMM on
    /// compute capability 8.9 and later (Ada, Hopper, Blackwell) and dequantises the weight to bf16 elsewhere.
    /// </summary>
    public Fp8GemmMode Fp8Gemm { get; init; } = Fp8GemmMode.Auto;

    /// <summary>
    /// How a SwiGLU feed-forward's gate-and-up projection runs (<c>--swiglu-gemm</c>, issue 16 Fusion 11): one tensor-core GEMM
    /// with a SiLU·mul epilogue (gemm_swiglu.cu), cuBLASLt (or gemm.cu) then silu_mul, or per shape the faster of the two
    /// (<see cref="SwiGluGemm.Auto"/>). Environment: <c>ACCELAES_SWIGLU_GEMM</c> (<see cref="BackendFactory.SwiGluGemmVariable"/>).
    /// </summary>
    public SwiGluGemm SwiGluGemm { get; init; } = SwiGluGemm.Auto;

    /// <summary>The kernel compiler (and its disk cache); null: the default cache directory.</summary>
    public KernelCompiler? Compiler { get; init; }
}

/// <summary>Which path a Linear with an fp8 weight takes on the CUDA backend.</summary>
public enum Fp8GemmMode
{
    /// <summary>cuBLASLt's FP8 GEMM where the card has it (compute capability 8.9+), dequantise-to-bf16 elsewhere.</summary>
    Auto,
    /// <summary>Always try the FP8 GEMM first (a card or cuBLASLt without it falls back to dequantising, with a warning per shape).</summary>
    On,
    /// <summary>Always dequantise the weight to bf16 and run the bf16 GEMM: the bf16 numbers of the dequantised weight.</summary>
    Off,
}

/// <summary>Which path <see cref="Tensors.IBackend.LinearSwiGlu"/> takes on the CUDA backend.</summary>
public enum SwiGluGemm
{
    /// <summary>
    /// Without cuBLASLt the fused kernel (a tensor-core GEMM beats gemm.cu's CUDA cores); with cuBLASLt both paths are timed
    /// on the card at the first call of each shape outside a graph capture and the faster one is kept for that shape.
    /// </summary>
    Auto,
    /// <summary>gemm_swiglu.cu wherever it can serve the call (bf16 weight, K and the rows 16-byte aligned).</summary>
    Fused,
    /// <summary>The GEMM of N = 2F (cuBLASLt, else gemm.cu), then silu_mul: the path before the fusion.</summary>
    Split,
}
