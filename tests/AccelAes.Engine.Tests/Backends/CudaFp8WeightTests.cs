using System.Runtime.InteropServices;
using AccelAes.Engine.Backends.Cuda;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Models.Sd3;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.SafeTensors;
using Xunit.Abstractions;
using static AccelAes.Engine.Tests.Cuda.CudaTestTensors;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// fp8 weights resident on the CUDA backend (issue 15): <see cref="CudaBackend.UploadFp8Weight"/> keeps e4m3 codes and
/// per-row scales (1 byte per element plus 4 per row), and every op reads them as bf16(decode(code) · scale) — the bits
/// an F32 upload of the exactly dequantised weight gives, which is what the backend computed with before. So each
/// result here is compared bit for bit with that upload; only the resident bytes may differ. (The dequantise path, forced
/// with <see cref="Fp8GemmMode.Off"/>: the FP8 GEMM of compute capability 8.9+ is CudaFp8GemmTests'.)
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaFp8WeightTests(ITestOutputHelper output)
{
    private static CudaBackend Backend()
    {
        bool available = CudaDevice.Detect().IsAvailable && NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded;
        CudaTests.SkipUnless(available, $"no GPU or no NVRTC: {CudaDevice.Detect().Reason}");
        // The dequantise path on every card: what these tests hold bit for bit (the FP8 GEMM has CudaFp8GemmTests).
        return new CudaBackend(new CudaBackendOptions { PoisonNewTensors = true, SynchronizeEachOp = true, Fp8Gemm = Fp8GemmMode.Off });
    }

    /// <summary>Codes covering every finite e4m3 value (subnormals and ±448 included) and scales of several magnitudes, one row of zero scale.</summary>
    internal static (byte[] Codes, float[] Scales) RandomFp8(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var codes = new byte[rows * columns];
        for (int i = 0; i < codes.Length; i++)
        {
            int code = i < 256 ? i : random.Next(256);
            codes[i] = (byte)((code & 0x7F) == 0x7F ? code - 1 : code); // 0x7F / 0xFF are NaN: no quantiser writes them
        }
        var scales = new float[rows];
        for (int r = 0; r < rows; r++)
            scales[r] = r == 1 ? 0f : (float)(Math.Exp(random.NextDouble() * 6 - 9) * (1 + random.NextDouble()));
        return (codes, scales);
    }

    /// <summary>What the CUDA backend computed with before fp8 stayed resident: the dequantised fp32 weight, uploaded (rounded to bf16 on the device).</summary>
    internal static Tensor DequantisedUpload(CudaBackend gpu, byte[] codes, float[] scales, Shape shape)
    {
        float[] values = Fp8WeightValues.Dequantise(codes, scales, shape);
        return gpu.UploadWeight(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, shape);
    }

    public static TheoryData<int, int> Shapes => new()
    {
        { 24, 32 },  // rows of 32: the 16-byte vector path, 768 codes
        { 7, 40 },   // rows of 40: a group of 16 spans two rows (one scale per half)
        { 5, 12 },   // rows of 12: the scalar path
        { 3, 104 },  // 312 codes: the vector path with a tail of 8
    };

    [SkippableTheory]
    [MemberData(nameof(Shapes))]
    public void Fp8_linear_gives_the_bf16_upload_of_the_dequantised_weight_bit_for_bit(int outFeatures, int inFeatures)
    {
        using var gpu = Backend();
        var shape = new Shape(outFeatures, inFeatures);
        var (codes, scales) = RandomFp8(outFeatures, inFeatures, outFeatures * 1000 + inFeatures);
        var fp8 = gpu.UploadFp8Weight(codes, scales, shape);
        var reference = DequantisedUpload(gpu, codes, scales, shape);
        Assert.Equal(DType.F8E4M3, fp8.DType);

        AssertSameBits(gpu.Download(reference), gpu.Download(fp8), "the weight read back");
        var x = gpu.Upload(TestData.Random(6 * inFeatures, 3), new Shape(2, 3, inFeatures));
        var bias = gpu.Upload(TestData.Random(outFeatures, 4), new Shape(outFeatures));
        foreach (var activation in new[] { Activation.None, Activation.GeluTanh, Activation.Silu })
            AssertSameBits(gpu.Download(gpu.Linear(x, reference, bias, activation)), gpu.Download(gpu.Linear(x, fp8, bias, activation)),
                $"Linear ({activation})");
        var destination = gpu.Allocate(new Shape(2, 3, outFeatures + 8));
        gpu.Fill(destination, 0f);
        var expected = gpu.Allocate(new Shape(2, 3, outFeatures + 8));
        gpu.Fill(expected, 0f);
        gpu.LinearInto(destination, 8, x, fp8, null);
        gpu.LinearInto(expected, 8, x, reference, null);
        AssertSameBits(gpu.Download(expected), gpu.Download(destination), "LinearInto");
    }

    [SkippableFact]
    public void An_fp8_weight_holds_one_byte_per_element_and_its_scales_on_the_device()
    {
        using var gpu = Backend();
        var shape = new Shape(64, 96);
        var (codes, scales) = RandomFp8(64, 96, 5);
        var before = gpu.WeightUploads.DeviceBytes;
        using var fp8 = gpu.UploadFp8Weight(codes, scales, shape);
        ulong fp8Bytes = gpu.WeightUploads.DeviceBytes - before;
        before = gpu.WeightUploads.DeviceBytes;
        using var bf16 = DequantisedUpload(gpu, codes, scales, shape);
        ulong bf16Bytes = gpu.WeightUploads.DeviceBytes - before;
        Assert.Equal(2UL * 64 * 96, bf16Bytes);
        Assert.Equal(64UL * 96 + 4 * 64, fp8Bytes); // 6144 codes (16-byte aligned already), 64 fp32 scales
    }

    /// <summary>q / k / v weights joined by rows at load (FusedQkvProjection) stay fp8, each part's rows with its own scales; a join by columns is read as bf16.</summary>
    [SkippableFact]
    public void Fp8_weights_joined_by_rows_stay_fp8_with_their_scales()
    {
        using var gpu = Backend();
        var (qc, qs) = RandomFp8(5, 24, 6);
        var (kc, ks) = RandomFp8(3, 24, 7);
        var q = gpu.UploadFp8Weight(qc, qs, new Shape(5, 24));
        var k = gpu.UploadFp8Weight(kc, ks, new Shape(3, 24));
        var joined = gpu.Concat(0, q, k);
        Assert.Equal(DType.F8E4M3, joined.DType);
        Assert.Equal(5UL * 24 + 3 * 24 + 4 * 8, ((CudaTensor)joined).ByteCount);
        var reference = gpu.Concat(0, DequantisedUpload(gpu, qc, qs, new Shape(5, 24)), DequantisedUpload(gpu, kc, ks, new Shape(3, 24)));
        AssertSameBits(gpu.Download(reference), gpu.Download(joined), "rows joined");

        var side = gpu.Concat(1, q, gpu.UploadFp8Weight(qc, qs, new Shape(5, 24)));
        Assert.Equal(DType.BF16, side.DType);
        float[] one = gpu.Download(q);
        float[] expected = Enumerable.Range(0, 5).SelectMany(r => one.Skip(r * 24).Take(24).Concat(one.Skip(r * 24).Take(24))).ToArray();
        AssertSameBits(expected, gpu.Download(side), "columns joined");
        Assert.Throws<NotSupportedException>(() => q.Reshape(24, 5));
    }

    /// <summary>A tiny SD3 with <c>--weights fp8</c> (<see cref="Fp8QuantizedWeightSource"/>): the same latents as the dequantised weights uploaded as before, bit for bit, with its Linear weights' device bytes halved.</summary>
    [SkippableFact]
    public void Sd3_with_fp8_weights_denoises_as_the_dequantised_upload_with_half_the_linear_bytes()
    {
        using var gpu = Backend();
        var (fp8Latents, fp8Bytes) = DenoiseSd3(gpu, new Fp8QuantizedWeightSource(new RandomWeightSource(7)), null);
        var linear = new LinearShapes();
        var (latents, bytes) = DenoiseSd3(gpu, new DequantisingFp8Source(new RandomWeightSource(7), linear), null);
        AssertSameBits(latents, fp8Latents, "SD3 latents");
        // Each Linear weight: 2 bytes per element as bf16, 1 byte per element (16-byte aligned) plus 4 per row as fp8.
        ulong bf16Linear = linear.Shapes.Aggregate(0UL, (s, sh) => s + 2UL * (ulong)sh.ElementCount);
        ulong fp8Linear = linear.Shapes.Aggregate(0UL, (s, sh) => s + ((ulong)sh.ElementCount + 15) / 16 * 16 + 4UL * (ulong)sh[0]);
        output.WriteLine($"SD3 tiny: {linear.Shapes.Count} Linear weights, {bf16Linear} B as bf16, {fp8Linear} B as fp8; uploads {bytes} B vs {fp8Bytes} B");
        Assert.Equal(bytes - bf16Linear + fp8Linear, fp8Bytes);
        Assert.True(fp8Linear * 10 < bf16Linear * 6, $"fp8 Linear bytes {fp8Linear} are not near half of {bf16Linear}");
    }

    /// <summary><c>--offload sequential</c> with fp8 weights: the blocks' pinned copies hold the fp8 bytes (codes and scales, the q / k / v join included) and the latents are the resident run's.</summary>
    [SkippableFact]
    public void Sequential_offload_streams_the_fp8_bytes_and_gives_the_resident_latents()
    {
        using var gpu = Backend();
        var (resident, _) = DenoiseSd3(gpu, new Fp8QuantizedWeightSource(new RandomWeightSource(7)), null);
        ulong fp8Host, bf16Host;
        using (var stream = gpu.CreateBlockStream())
        {
            var (streamed, _) = DenoiseSd3(gpu, new Fp8QuantizedWeightSource(new RandomWeightSource(7)), stream);
            AssertSameBits(resident, streamed, "streamed fp8 latents");
            fp8Host = stream.HostBytes;
        }
        using (var stream = gpu.CreateBlockStream())
        {
            DenoiseSd3(gpu, new RandomWeightSource(7), stream);
            bf16Host = stream.HostBytes;
        }
        output.WriteLine($"pinned block bytes: fp8 {fp8Host}, bf16 {bf16Host}");
        Assert.True(fp8Host * 10 < bf16Host * 7, $"streamed fp8 blocks hold {fp8Host} B, bf16 blocks {bf16Host} B");
    }

    /// <summary>
    /// fp8 single files (plain e4m3fn and ComfyUI scaled, ../shared/conformance/flux_singlefile): their e4m3 Linear weights
    /// stay fp8 on the device (codes and the per-tensor scale repeated per row), and the forward equals, bit for bit, the
    /// same file's exactly decoded weights (the conformance folder's <c>dequantized_reference.safetensors</c>, fp32) uploaded
    /// as any weight.
    /// </summary>
    [SkippableTheory]
    [InlineData("flux_fp8_e4m3_tiny", "flux1-tiny-fp8-e4m3fn.safetensors")]
    [InlineData("flux_fp8_scaled_tiny", "flux1-tiny-fp8-scaled.safetensors")]
    public void An_fp8_single_file_keeps_its_codes_on_the_device_and_forwards_as_its_decoded_weights(string folder, string file)
    {
        string path = GoldenFiles.At("flux_singlefile", folder, file);
        Skip.IfNot(File.Exists(path), GoldenFiles.MissingMessage);
        using var gpu = Backend();
        ulong before = gpu.WeightUploads.DeviceBytes;
        var fp8 = ComponentLoader.LoadSingleFile(path, gpu);
        ulong fp8Bytes = gpu.WeightUploads.DeviceBytes - before;
        before = gpu.WeightUploads.DeviceBytes;
        var decoded = ComponentLoader.LoadSingleFile(GoldenFiles.At("flux_singlefile", folder, "dequantized_reference.safetensors"), gpu);
        ulong decodedBytes = gpu.WeightUploads.DeviceBytes - before;
        output.WriteLine($"{folder}: {fp8Bytes} B on the device as fp8, {decodedBytes} B decoded to bf16");
        Assert.True(fp8Bytes * 10 < decodedBytes * 7, $"{fp8Bytes} B as fp8 against {decodedBytes} B decoded");

        var golden = GoldenTensors.Load(GoldenFiles.At("flux_singlefile", folder, "inputs.safetensors"));
        Dictionary<string, Tensor> Inputs() => new[] { "hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids", "guidance" }
            .ToDictionary(n => n, n => gpu.Upload(golden[n].Values, new Shape(golden[n].Shape)));
        AssertSameBits(gpu.Download(decoded.Forward.Forward(Inputs())["sample"]), gpu.Download(fp8.Forward.Forward(Inputs())["sample"]), $"{folder} sample");
    }

    /// <summary>Lumina-Next with <c>--weights fp8</c>: its feed-forward's gate and up weights, joined by rows at load, and its q / k / v stay fp8; the latents are the dequantised upload's, bit for bit.</summary>
    [SkippableFact]
    public void Lumina_with_fp8_weights_denoises_as_the_dequantised_upload()
    {
        using var gpu = Backend();
        float[] fp8 = DenoiseLumina(gpu, new Fp8QuantizedWeightSource(new RandomWeightSource(7)));
        float[] dequantised = DenoiseLumina(gpu, new DequantisingFp8Source(new RandomWeightSource(7), new LinearShapes()));
        AssertSameBits(dequantised, fp8, "Lumina-Next latents");
    }

    private static float[] DenoiseLumina(CudaBackend gpu, IWeightSource weights)
    {
        var pipeline = new LuminaPipeline(new LuminaNextDiT2DModel(new WeightReader(weights, gpu), TinyLuminaDenoise.Config()));
        var inputs = TinyLuminaDenoise.Inputs(gpu);
        return gpu.Download(pipeline.Denoise(inputs, TinyLuminaDenoise.Settings(2)));
    }

    private static (float[] Latents, ulong UploadedBytes) DenoiseSd3(CudaBackend gpu, IWeightSource weights, BlockWeightStream? stream)
    {
        ulong before = gpu.WeightUploads.DeviceBytes;
        IWeightSource source = stream is null ? weights : new StreamedBlockWeightSource(weights, stream);
        var model = new Sd3Transformer2DModel(new WeightReader(source, gpu), new Sd3TransformerConfig
        {
            SampleSize = 16, PatchSize = 2, InChannels = 16, OutChannels = 16, NumLayers = 3, AttentionHeadDim = 16, NumAttentionHeads = 2,
            JointAttentionDim = 32, CaptionProjectionDim = 32, PooledProjectionDim = 32, PosEmbedMaxSize = 24,
        });
        ulong uploaded = gpu.WeightUploads.DeviceBytes - before;
        var inputs = new Dictionary<string, Tensor>
        {
            ["prompt_embeds"] = gpu.Upload(TestData.Random(7 * 32, 2), new Shape(1, 7, 32)),
            ["pooled_prompt_embeds"] = gpu.Upload(TestData.Random(32, 3), new Shape(1, 32)),
            ["negative_prompt_embeds"] = gpu.Upload(TestData.Random(7 * 32, 4), new Shape(1, 7, 32)),
            ["negative_pooled_prompt_embeds"] = gpu.Upload(TestData.Random(32, 5), new Shape(1, 32)),
            ["latents"] = gpu.Upload(TestData.Random(16 * 8 * 8, 1), new Shape(1, 16, 8, 8)),
        };
        var latents = new Sd3Pipeline(model).Denoise(inputs, new DenoiseSettings { Steps = 2, GuidanceScale = 5f, Scheduler = new FlowMatchEulerSchedulerConfig { Shift = 3.0 } });
        return (gpu.Download(latents), uploaded);
    }

    private sealed class LinearShapes
    {
        public List<Shape> Shapes { get; } = [];
    }

    /// <summary>
    /// The path before fp8 stayed resident, written independently of <see cref="Fp8QuantizedWeightSource"/>: each Linear
    /// weight quantised by <see cref="Float8Quantizer"/>, dequantised to fp32 and uploaded as any weight (bf16 on the device).
    /// </summary>
    private sealed class DequantisingFp8Source(IWeightSource inner, LinearShapes linear) : IWeightSource
    {
        public string Description => inner.Description;
        public bool Contains(string name) => inner.Contains(name);
        public IEnumerable<string> Names => inner.Names;

        public Tensor Load(string name, Shape shape, IBackend backend)
        {
            if (!LinearWeightNames.IsLinearWeight(name, shape.Rank)) return inner.Load(name, shape, backend);
            linear.Shapes.Add(shape);
            float[] values;
            using (var cpu = new AccelAes.Engine.Backends.Cpu.CpuBackend())
            using (var stored = inner.Load(name, shape, cpu))
                values = cpu.Download(stored);
            var codes = new byte[values.Length];
            var scales = new float[shape[0]];
            Assert.True(Float8Quantizer.QuantizeRows(values, shape[1], codes, scales));
            Float8Quantizer.DequantizeRows(codes, scales, shape[1], values);
            return backend.UploadWeight(MemoryMarshal.AsBytes(values.AsSpan()), DType.F32, shape);
        }
    }
}
