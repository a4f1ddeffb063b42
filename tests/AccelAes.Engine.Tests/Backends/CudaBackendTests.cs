using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Components;
using AccelAes.Engine.Diagnostics;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// One CUDA backend for the GPU tests, or the reason there is none. Every new tensor is poisoned with NaN and
/// every op synchronises, so unwritten elements and asynchronous faults are caught by the op that caused them.
/// Runs on a real GPU, or on the CPU emulator (tests/AccelAes.Kernels.Tests/Emulator: ACCELAES_CUDA_LIB_DIR).
/// </summary>
public sealed class CudaFixture : IDisposable
{
    public CudaFixture()
    {
        Detection = CudaDevice.Detect();
        if (!Detection.IsAvailable)
        {
            SkipReason = $"no GPU: {Detection.Reason}";
            return;
        }
        var nvrtc = NativeLibraries.Load(CudaLibrary.Nvrtc);
        if (!nvrtc.IsLoaded)
        {
            SkipReason = "no NVRTC: " + nvrtc.Describe();
            return;
        }
        Backend = new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true });
    }

    public GpuDetection Detection { get; }

    public CudaBackend? Backend { get; }

    public CpuBackend Cpu { get; } = new();

    public string? SkipReason { get; }

    public void Dispose() => Backend?.Dispose();
}

/// <summary>
/// Every op of the op set on the CUDA backend against the CPU reference (<see cref="OpSelfTest"/>: fresh random
/// inputs, the rule of DESIGN.md §4), plus memory, scope and error behaviour. Skipped, with the detection
/// reason, where there is no GPU.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaBackendTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    public static TheoryData<string> Ops => new(OpSelfTest.Cases().Select(c => c.Op).Distinct());

    private CudaBackend Gpu
    {
        get
        {
            CudaTests.SkipUnless(fixture.Backend is not null, fixture.SkipReason);
            return fixture.Backend!;
        }
    }

    [SkippableTheory]
    [MemberData(nameof(Ops))]
    public void Op_MatchesTheCpuReference(string op)
    {
        var gpu = Gpu;
        output.WriteLine($"{gpu.Device} | {gpu.Architecture} | GEMM: {gpu.GemmEngine}");
        var results = OpSelfTest.RunAll(gpu, fixture.Cpu, filter: c => c.Op == op);
        foreach (var r in results)
            output.WriteLine(r.ToString());
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.True(r.Passed, r.ToString()));
    }

    public static TheoryData<string> FlashVariants => new(FlashVariant.All.Select(v => v.Name));

    /// <summary>
    /// Runs <paramref name="body"/> with every flash attention call forced to <paramref name="variant"/>, whatever the plan
    /// would pick for this device and shape (the emulator reports one device; the plan picks per device and grid size).
    /// </summary>
    private void WithFlashVariant(CudaBackend gpu, string variant, Action body)
    {
        var saved = gpu.FlashAttentionVariant;
        gpu.FlashAttentionVariant = FlashVariant.Parse(variant);
        try
        {
            body();
        }
        finally
        {
            gpu.FlashAttentionVariant = saved;
        }
    }

    /// <summary>Every flash attention case of the op self-test (shapes, masks, GQA, bias, causal, affinity, accumulate) with each variant.</summary>
    [SkippableTheory]
    [MemberData(nameof(FlashVariants))]
    public void AttentionFlashVariant_MatchesTheCpuReference(string variant)
    {
        var gpu = Gpu;
        WithFlashVariant(gpu, variant, () =>
        {
            var results = OpSelfTest.RunAll(gpu, fixture.Cpu, filter: c => c.Op is "Attention" or "AttentionWithAffinity" or "AttentionAddScaledInto");
            foreach (var r in results)
                output.WriteLine($"{variant}: {r}");
            Assert.NotEmpty(results);
            Assert.All(results, r => Assert.True(r.Passed, $"{variant}: {r}"));
        });
    }

    [SkippableFact]
    public void Upload_KeepsF32_UploadWeight_IsBf16_AndDownloadRoundTrips()
    {
        var gpu = Gpu;
        float[] values = [1.0f, -2.5f, 999f, 3.14159265f, 1e-20f, -0f];
        using var f32 = gpu.Upload(values, new Shape(2, 3));
        Assert.Equal(DType.F32, f32.DType);
        Assert.Equal(values, gpu.Download(f32));
        using var bf = gpu.UploadBf16(values, new Shape(6));
        Assert.Equal(DType.BF16, bf.DType);
        Assert.Equal(values.Select(BFloat16Bits.Round), gpu.Download(bf));
        using var ids = gpu.UploadIndices([3, -1, 7], new Shape(3));
        Assert.Equal([3f, -1f, 7f], gpu.Download(ids));
        using var zeros = gpu.Zeros(new Shape(5, 7));
        Assert.All(gpu.Download(zeros), v => Assert.Equal(0f, v));
    }

    [SkippableFact]
    public void AbsDifferenceSums_AddsInFp64_MatchesTheCpuBitForBit_AndRerunsGiveIdenticalBits()
    {
        var gpu = Gpu;
        // 2²⁴ and 70 000 ones: a running fp32 sum stays at 2²⁴; fp64 keeps every partial exact, and the total
        // 2²⁴ + 70 000 is even, so fp32 holds it. 274 blocks: the finishing pass loops over the partials.
        var values = new float[70_001];
        Array.Fill(values, 1f);
        values[0] = 16_777_216f;
        using var b = gpu.Upload(values, new Shape(70_001));
        using var a = gpu.Upload(new float[70_001], new Shape(70_001));
        using var first = gpu.AbsDifferenceSums(a, b);
        Assert.Equal(DType.F32, first.DType);
        float[] sums = gpu.Download(first);
        Assert.Equal([16_847_216f, 16_847_216f], sums);
        using var again = gpu.AbsDifferenceSums(a, b);
        Assert.Equal(sums.Select(BitConverter.SingleToInt32Bits), gpu.Download(again).Select(BitConverter.SingleToInt32Bits));
        // The bf16 kernel (bf16 holds 2²⁴ and 1 exactly) gives the same fp32 sums.
        using var a16 = gpu.Zeros(new Shape(70_001));
        using var b16 = gpu.UploadBf16(values, new Shape(70_001));
        using var bf16Sums = gpu.AbsDifferenceSums(a16, b16);
        Assert.Equal(DType.F32, bf16Sums.DType);
        Assert.Equal(sums, gpu.Download(bf16Sums));

        // One block whose eight warps each hold 2²⁴ and 31 quarters: an fp32 warp sum drops 1.75 of each 7.75, and the
        // block's total lands one fp32 ulp (16) below the correctly rounded 2²⁷ + 62.
        float[] peaks = Enumerable.Range(0, 256).Select(i => i % 32 == 0 ? 16_777_216f : 0.25f).ToArray();
        using var gp = gpu.Upload(peaks, new Shape(256));
        using var gz = gpu.Upload(new float[256], new Shape(256));
        float exact = (float)(8 * 16_777_216.0 + 248 * 0.25);
        Assert.Equal([exact, exact], gpu.Download(gpu.AbsDifferenceSums(gz, gp)));

        // Random values over six decades: fp64 sums in any order round to the CPU's fp32 result bit for bit (they could
        // differ only if the exact sum lay within 2⁻⁵³ relative of a rounding boundary); fp32 partial sums would not.
        var rng = new Random(5);
        float[] x = Enumerable.Range(0, 70_001).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)))).ToArray();
        float[] y = Enumerable.Range(0, 70_001).Select(_ => (float)((rng.NextDouble() - 0.5) * Math.Pow(10, rng.Next(-3, 4)))).ToArray();
        float[] expected = fixture.Cpu.Download(fixture.Cpu.AbsDifferenceSums(fixture.Cpu.Upload(x, new Shape(70_001)), fixture.Cpu.Upload(y, new Shape(70_001))));
        using var gx = gpu.Upload(x, new Shape(70_001));
        using var gy = gpu.Upload(y, new Shape(70_001));
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), gpu.Download(gpu.AbsDifferenceSums(gx, gy)).Select(BitConverter.SingleToInt32Bits));
    }

    [SkippableFact]
    public void UploadWeight_StreamsThroughSeveralStagingChunks()
    {
        CudaTests.SkipUnless(fixture.Backend is not null, fixture.SkipReason);
        using var gpu = new CudaBackend(new CudaBackendOptions { StagingChunkBytes = 4096, PoisonNewTensors = true });
        var rng = new Random(3);
        var values = Enumerable.Range(0, 10_000).Select(_ => (float)rng.NextDouble() * 8 - 4).ToArray();
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        using var w = gpu.UploadWeight(bytes, DType.F32, new Shape(100, 100));
        Assert.Equal(values.Select(BFloat16Bits.Round), gpu.Download(w));
        using var f = gpu.Upload(values, new Shape(10_000));
        Assert.Equal(values, gpu.Download(f));
    }

    [SkippableFact]
    public void DisposedTensors_ReturnTheirBlocks_AndTheNextRentReusesThem()
    {
        var gpu = Gpu;
        var before = gpu.Memory;
        var t = gpu.Zeros(new Shape(1000, 1000));
        var reshaped = t.Reshape(1_000_000);
        Assert.Equal(before.BytesInUse + DeviceMemoryPool.SizeClass(2_000_000), gpu.Memory.BytesInUse);
        t.Dispose();
        Assert.True(gpu.Memory.BytesInUse > before.BytesInUse, "a reshape still holds the storage");
        reshaped.Dispose();
        Assert.Equal(before.BytesInUse, gpu.Memory.BytesInUse);
        long allocations = gpu.Memory.DeviceAllocations;
        using var again = gpu.Zeros(new Shape(1_000_000));
        Assert.Equal(allocations, gpu.Memory.DeviceAllocations);
    }

    [SkippableFact]
    public void Scope_DisposesWhatItCreated_ExceptWhatItKeeps()
    {
        var gpu = Gpu;
        var before = gpu.Memory.BytesInUse;
        Tensor kept;
        using (var scope = gpu.BeginScope())
        {
            var x = gpu.UploadBf16(new float[4096], new Shape(64, 64));
            var y = gpu.Scale(x, 2f);
            kept = scope.Keep(gpu.Add(x, y));
            Assert.Equal(2, scope.Count);
        }
        Assert.Equal(before + DeviceMemoryPool.SizeClass(64 * 64 * 2), gpu.Memory.BytesInUse);
        kept.Dispose();
        Assert.Equal(before, gpu.Memory.BytesInUse);
    }

    [SkippableFact]
    public void OutOfMemory_SaysHowMuchWasAskedAndHowMuchIsFree()
    {
        CudaTests.SkipUnless(fixture.Backend is not null, fixture.SkipReason);
        using var gpu = new CudaBackend(new CudaBackendOptions { MemoryLimitBytes = 256UL << 20 });
        using var fits = gpu.Zeros(new Shape(64, 1024, 1024)); // 128 MiB
        var e = Assert.Throws<CudaException>(() => gpu.Zeros(new Shape(96, 1024, 1024)));
        output.WriteLine(e.Message);
        Assert.Equal("CUDA_ERROR_OUT_OF_MEMORY", e.StatusName);
        Assert.Contains("asked", e.Message);
        Assert.Contains("free of", e.Message);
    }

    [SkippableTheory]
    [MemberData(nameof(FlashVariants))]
    public void FlashAndReferenceAttention_AgreeOnTheGpu_IncludingLogSumExp(string variant) =>
        WithFlashVariant(Gpu, variant, FlashAndReferenceAttentionAgree);

    private void FlashAndReferenceAttentionAgree()
    {
        var gpu = Gpu;
        var rng = new Random(11);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        using var q = gpu.UploadBf16(R(2 * 70 * 4 * 64), new Shape(2, 70, 4, 64));
        using var k = gpu.UploadBf16(R(2 * 90 * 2 * 64), new Shape(2, 90, 2, 64));
        using var v = gpu.UploadBf16(R(2 * 90 * 2 * 64), new Shape(2, 90, 2, 64));
        var (fo, fl) = gpu.AttentionWithLogSumExp(q, k, v, 0.125f, causal: true, kernel: AttentionKernel.Flash);
        var (ro, rl) = gpu.AttentionWithLogSumExp(q, k, v, 0.125f, causal: true, kernel: AttentionKernel.Reference);
        float[] a = gpu.Download(fo), b = gpu.Download(ro), la = gpu.Download(fl), lb = gpu.Download(rl);
        double maxO = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        double maxL = la.Zip(lb, (x, y) => Math.Abs(x - y)).Max();
        output.WriteLine($"flash vs reference: max |Δo| {maxO:G3}, max |Δlse| {maxL:G3}");
        Assert.True(maxO < 0.03, $"outputs differ by {maxO}");
        Assert.True(maxL < 1e-3, $"log-sum-exp differs by {maxL}");
        foreach (var t in new[] { fo, fl, ro, rl }) t.Dispose();
    }

    /// <summary>
    /// Causal attention with Sq &gt; Sk: query i sees keys j ≤ i − (Sq − Sk), so the first Sq − Sk rows see nothing and are
    /// zeros; the others equal causal attention of those rows alone (offset 0). (CpuBackend.Attention cannot run
    /// this shape itself: its causal loop starts at a negative key index.)
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(FlashVariants))]
    public void CausalAttention_WithMoreQueriesThanKeys_ZerosTheRowsThatSeeNothing(string variant) =>
        WithFlashVariant(Gpu, variant, CausalAttentionWithMoreQueriesThanKeys);

    private void CausalAttentionWithMoreQueriesThanKeys()
    {
        var gpu = Gpu;
        var rng = new Random(5);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => BFloat16Bits.Round((float)(rng.NextDouble() * 4 - 2))).ToArray();
        const int sq = 200, sk = 20, d = 32; // rows 0..179 see nothing: whole CTAs of either variant (no key tile) and part of the next
        float[] q = R(sq * d), k = R(sk * d), v = R(sk * d);
        foreach (var kernel in new[] { AttentionKernel.Flash, AttentionKernel.Reference })
        {
            using var gq = gpu.UploadBf16(q, new Shape(1, sq, 1, d));
            using var gk = gpu.UploadBf16(k, new Shape(1, sk, 1, d));
            using var gv = gpu.UploadBf16(v, new Shape(1, sk, 1, d));
            var (o, lse) = gpu.AttentionWithLogSumExp(gq, gk, gv, 0.2f, causal: true, kernel: kernel);
            float[] got = gpu.Download(o), gotLse = gpu.Download(lse);
            o.Dispose();
            lse.Dispose();
            Assert.All(got[..((sq - sk) * d)], x => Assert.Equal(0f, x));
            Assert.All(gotLse[..(sq - sk)], x => Assert.Equal(float.NegativeInfinity, x));
            var cpu = fixture.Cpu;
            var expected = cpu.Download(cpu.Attention(cpu.Upload(q[((sq - sk) * d)..], new Shape(1, sk, 1, d)),
                cpu.Upload(k, new Shape(1, sk, 1, d)), cpu.Upload(v, new Shape(1, sk, 1, d)), 0.2f, causal: true));
            double err = expected.Zip(got[((sq - sk) * d)..], (a, b) => Math.Abs(a - b)).Max();
            output.WriteLine($"{kernel}: max error of the visible rows {err:G3}");
            Assert.True(err < 0.02, $"{kernel}: visible rows differ from the CPU by {err}");
        }
    }

    /// <summary>
    /// A whole SD3 / SD3.5 transformer forward (every op the DiT uses, chained) on the CUDA backend against the CPU
    /// reference with the same random weights: relative L2 error ≤ 1e-2 (DESIGN.md §4).
    /// </summary>
    [SkippableTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void Sd3TransformerForward_MatchesTheCpuWithinBf16Noise(bool sd35)
    {
        var gpu = Gpu;
        var cpu = fixture.Cpu;
        var config = new Sd3TransformerConfig
        {
            SampleSize = 32, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 3, AttentionHeadDim = 16, NumAttentionHeads = 4,
            JointAttentionDim = 64, CaptionProjectionDim = 64, PooledProjectionDim = 64, PosEmbedMaxSize = 48,
            QkNorm = sd35 ? "rms_norm" : null, DualAttentionLayers = sd35 ? [0, 1] : [],
        };
        float[] latents = TestData.Random(2 * 16 * 16 * 16, 1), context = TestData.Random(2 * 21 * 64, 2), pooled = TestData.Random(2 * 64, 3);
        float[] Run(IBackend be)
        {
            var model = new Sd3Transformer2DModel(new WeightReader(new RandomWeightSource(7), be), config);
            var y = model.Forward(be.Upload(latents, new Shape(2, 16, 16, 16)), be.Upload(context, new Shape(2, 21, 64)),
                be.Upload(pooled, new Shape(2, 64)), be.Upload([999f, 312.5f], new Shape(2)));
            return be.Download(y);
        }
        float[] expected = Run(cpu), actual = Run(gpu);
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            num += Math.Pow(actual[i] - expected[i], 2);
            den += Math.Pow(expected[i], 2);
        }
        double rel = Math.Sqrt(num / den);
        output.WriteLine($"SD3{(sd35 ? ".5" : "")} tiny forward: relative L2 error {rel:G3} over {expected.Length} outputs; pool {gpu.Memory}");
        Assert.True(rel <= 1e-2, $"relative L2 error {rel}");
    }

    private static double RelativeL2(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            num += Math.Pow((double)actual[i] - expected[i], 2);
            den += Math.Pow(expected[i], 2);
        }
        return Math.Sqrt(num / den);
    }

    private Dictionary<string, Tensor> UploadGoldens(CudaBackend gpu, Dictionary<string, GoldenTensor> golden, params string[] names) =>
        names.ToDictionary(n => n, n => gpu.Upload(golden[n].Values, new Shape(golden[n].Shape)));

    /// <summary>The tiny SD3 checkpoint (bf16 weights file) on the CUDA backend against diffusers' own fp32 forward with the
    /// same bf16-rounded weights (../shared/conformance/sd3_tiny): relative L2 ≤ 1e-2 (DESIGN.md §4).</summary>
    [SkippableFact]
    public void Sd3TinyCheckpoint_Forward_MatchesDiffusers()
    {
        var gpu = Gpu;
        Skip.If(GoldenFiles.Shared is null, GoldenFiles.MissingMessage);
        var component = ComponentLoader.Load(ModelFolder.Open(GoldenFiles.At("sd3_tiny")).Component("transformer"), gpu, "bf16");
        var inputs = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "inputs.safetensors"));
        var expected = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "outputs.safetensors"))["sample_bf16_weights"];
        var result = component.Forward.Forward(UploadGoldens(gpu, inputs, "hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"))["sample"];
        Assert.Equal(expected.Shape, result.Shape.ToArray());
        double rel = RelativeL2(expected.Values, gpu.Download(result));
        output.WriteLine($"sd3_tiny forward on {gpu.Name} vs diffusers (bf16 weights, fp32 compute): relative L2 {rel:G3}");
        Assert.True(rel <= 1e-2, $"relative L2 error {rel}");
    }

    /// <summary>The 8-step CFG sampling loop of StableDiffusion3Pipeline on the CUDA backend (fp32 latents, bf16 model)
    /// against diffusers' fp32 trajectory: each step's latents within relative L2 2e-2 (bf16 noise compounding over the steps).</summary>
    [SkippableFact]
    public void Sd3TinyTrajectory_FollowsDiffusers()
    {
        var gpu = Gpu;
        Skip.If(GoldenFiles.Shared is null, GoldenFiles.MissingMessage);
        var golden = GoldenTensors.Load(GoldenFiles.At("sd3_tiny", "trajectory", "trajectory.safetensors"));
        var component = ComponentLoader.Load(ModelFolder.Open(GoldenFiles.At("sd3_tiny")).Component("transformer"), gpu);
        var pipeline = new Sd3Pipeline(((Sd3TransformerComponent)component.Forward).Model);
        var inputs = UploadGoldens(gpu, golden, "prompt_embeds", "pooled_prompt_embeds", "negative_prompt_embeds", "negative_pooled_prompt_embeds");
        inputs["latents"] = gpu.Upload(golden["initial_latents"].Values, new Shape(golden["initial_latents"].Shape));
        var settings = new DenoiseSettings
        {
            Steps = golden["timesteps"].Values.Length,
            GuidanceScale = 7f,
            Scheduler = FlowMatchEulerSchedulerConfig.From(JsonConfig.Load(GoldenFiles.At("sd3_tiny", "trajectory", "scheduler_config.json"))),
            Height = 128,
            Width = 192,
        };
        var errors = new List<double>();
        var final = pipeline.Denoise(inputs, settings, (i, latents) =>
        {
            Assert.Equal(DType.F32, latents.DType); // the loop integrates in fp32
            errors.Add(RelativeL2(golden[$"latents_step_{i}"].Values, gpu.Download(latents)));
        });
        output.WriteLine($"sd3_tiny trajectory on {gpu.Name}: relative L2 per step {string.Join(", ", errors.Select(e => e.ToString("G3")))}");
        Assert.Equal(settings.Steps, errors.Count);
        Assert.All(errors, e => Assert.True(e <= 2e-2, $"relative L2 {e}"));
    }

    [SkippableFact]
    public void MeasureMilliseconds_TimesQueuedWork()
    {
        var gpu = Gpu;
        using var x = gpu.UploadBf16(new float[1 << 16], new Shape(256, 256));
        int runs = 0;
        double ms = gpu.MeasureMilliseconds(() => { runs++; gpu.Scale(x, 2f).Dispose(); }, warmup: 1, repeats: 3);
        Assert.Equal(4, runs);
        Assert.True(ms >= 0);
        output.WriteLine($"scale of 64 Ki bf16: {ms:G3} ms (0 on the emulator)");
    }

    [SkippableFact]
    public void KernelModules_AreCompiledOnce_AndDescribed()
    {
        var gpu = Gpu;
        using var x = gpu.UploadBf16([1, 2, 3], new Shape(3));
        using var y = gpu.Scale(x, 2f);
        var modules = gpu.LoadedModules;
        Assert.Contains(modules, m => m.SourceFile == "pointwise.cu");
        foreach (var m in modules)
            output.WriteLine($"{m.SourceFile} {m.Architecture} {m.Cache} {m.CompileTime.TotalMilliseconds:0} ms");
        foreach (var k in gpu.DescribeKernels())
            output.WriteLine($"{k.Name}: {k.Registers} regs, {k.LocalBytesPerThread} B local, {k.StaticSharedBytes} B shared");
    }
}
