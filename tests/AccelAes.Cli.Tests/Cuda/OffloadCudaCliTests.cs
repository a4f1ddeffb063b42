using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AccelAes.Kernels;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Cli.Tests.Cuda;

/// <summary>
/// `generate --offload encoders` and `--offload sequential` on the CUDA backend under a device memory cap (the CPU emulator's
/// FAKE_CUDA_MEMORY_LIMIT; FAKE_CUDA_PEAK_FILE reports the most device memory a run held): the all-resident run fails with
/// an out-of-memory error that names the allocation, both offloaded runs succeed within the same cap with the all-resident
/// image, and auto refuses the run before loading. Runs on the emulator only (the cap is the fake driver's); skipped elsewhere.
/// </summary>
public class OffloadCudaCliTests(CliCache cache, ITestOutputHelper output) : IClassFixture<CliCache>
{
    private static readonly string[] Settings =
        ["--backend", "cuda", "--variant", "bf16", "--prompt", "a red cube", "--seed", "3", "--steps", "1", "--width", "16", "--height", "16"];

    /// <summary>
    /// Every run reclaims undisposed tensors after each MiB of fresh device memory (ACCELAES_CUDA_RECLAIM_BYTES), so its
    /// peak is what it needs, not what awaits the GC: the uncapped peaks then say where a cap falls between the policies.
    /// </summary>
    private const string EagerReclaim = "1MiB";

    /// <summary>
    /// The tiny SD3's weights are a few hundred kB, less than one run's activations: a text encoder table and a transformer
    /// table grow to ~40 MB each (rows no token reaches; a larger position table the patch embedding crops), so holding
    /// both at once is what a cap between the policies' peaks forbids. Its three joint blocks are more than the two slots,
    /// so sequential streams them every step (the console says so).
    /// </summary>
    [SkippableFact]
    public void Under_one_cap_all_resident_runs_out_of_memory_while_encoders_and_sequential_fit_with_the_all_resident_image()
    {
        SkipUnlessEmulator();
        using var dir = new TempDirectory();
        string model = dir.File("sd3");
        var made = cache.Run("make-tiny", "--arch", "sd3", "--out", model, "--dtype", "bf16");
        Assert.True(made.ExitCode == 0, made.All);
        Grow(Path.Combine(model, "text_encoder"), "model.bf16.safetensors", "text_model.embeddings.token_embedding.weight", "vocab_size", 833_334);
        Grow(Path.Combine(model, "transformer"), "diffusion_pytorch_model.bf16.safetensors", "pos_embed.pos_embed", "pos_embed_max_size", 560);

        // Uncapped: the most each policy holds at once.
        var resident = Run(model, dir, "none", cap: null, out string residentImage);
        Assert.True(resident.Result.ExitCode == 0, resident.Result.All);
        long encodersPeak = Run(model, dir, "encoders", cap: null, out _).Peak;
        long sequentialPeak = Run(model, dir, "sequential", cap: null, out _).Peak;
        output.WriteLine($"uncapped peak device memory: none {resident.Peak} B, encoders {encodersPeak} B, sequential {sequentialPeak} B");
        long offloadedPeak = Math.Max(encodersPeak, sequentialPeak);
        Assert.True(encodersPeak > 0 && sequentialPeak > 0 && offloadedPeak < resident.Peak,
            $"the offloaded runs held {encodersPeak} B and {sequentialPeak} B, all-resident {resident.Peak} B");

        long cap = (resident.Peak + offloadedPeak) / 2;
        var capped = Run(model, dir, "none", cap, out string cappedImage);
        Assert.NotEqual(0, capped.Result.ExitCode);
        string error = CliCache.Flat(capped.Result.All);
        Assert.Contains("CUDA_ERROR_OUT_OF_MEMORY", error);
        Assert.Contains("asked", error);
        Assert.False(File.Exists(cappedImage));

        var encoders = Run(model, dir, "encoders", cap, out string encodersImage);
        Assert.True(encoders.Result.ExitCode == 0, encoders.Result.All);
        Assert.True(encoders.Peak > 0 && encoders.Peak <= cap, $"encoders peak {encoders.Peak} B above the cap {cap} B");
        Assert.Equal(GenerateCliTests.Decode(residentImage).Rgb, GenerateCliTests.Decode(encodersImage).Rgb);

        var sequential = Run(model, dir, "sequential", cap, out string sequentialImage);
        Assert.True(sequential.Result.ExitCode == 0, sequential.Result.All);
        Assert.Contains("sequential: 3 transformer blocks", CliCache.Flat(sequential.Result.Output));
        Assert.True(sequential.Peak > 0 && sequential.Peak <= cap, $"sequential peak {sequential.Peak} B above the cap {cap} B");
        Assert.Equal(GenerateCliTests.Decode(residentImage).Rgb, GenerateCliTests.Decode(sequentialImage).Rgb);
        output.WriteLine($"under a cap of {cap} B: encoders {encoders.Peak} B, sequential {sequential.Peak} B");

        // auto plans against the capped device's free memory and refuses before loading (its runtime reserve alone is larger).
        var auto = Run(model, dir, "auto", cap, out string autoImage);
        Assert.Equal(1, auto.Result.ExitCode);
        Assert.Contains("under any residency policy", CliCache.Flat(auto.Result.All));
        Assert.False(File.Exists(autoImage));
    }

    private static void SkipUnlessEmulator()
    {
        string? lib = Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR");
        var detection = CudaDevice.Detect();
        CudaTests.SkipUnless(detection.IsAvailable && NativeLibraries.Load(CudaLibrary.Nvrtc).IsLoaded,
            detection.IsAvailable ? "no NVRTC" : $"no GPU: {detection.Reason}");
        // The cap and the peak report are the emulator's: a real device is not capped by an environment variable.
        Skip.If(lib is null || !File.Exists(Path.Combine(lib, "libcuda.so.1")) || !detection.Devices[0].Name.Contains("Emulator", StringComparison.OrdinalIgnoreCase),
            "needs the CPU emulator (ACCELAES_CUDA_LIB_DIR from tests/AccelAes.Kernels.Tests/Emulator/build.py)");
    }

    private (CliRunner.Result Result, long Peak) Run(string model, TempDirectory dir, string offload, long? cap, out string image)
    {
        string tag = $"{offload}-{cap?.ToString(CultureInfo.InvariantCulture) ?? "uncapped"}";
        image = dir.File(tag + ".png");
        string peakFile = dir.File(tag + ".peak");
        var environment = new Dictionary<string, string>(cache.Environment)
        {
            ["ACCELAES_CUDA_LIB_DIR"] = Environment.GetEnvironmentVariable("ACCELAES_CUDA_LIB_DIR")!,
            ["FAKE_CUDA_PEAK_FILE"] = peakFile,
            ["ACCELAES_CUDA_RECLAIM_BYTES"] = EagerReclaim,
        };
        if (cap is long bytes) environment["FAKE_CUDA_MEMORY_LIMIT"] = bytes.ToString(CultureInfo.InvariantCulture);
        // The emulator of a loaded 2-core machine takes minutes per run.
        var r = CliRunner.Run(environment, TimeSpan.FromMinutes(15), ["generate", "--model", model, "--out", image, "--offload", offload, .. Settings]);
        output.WriteLine($"--offload {offload}, cap {cap?.ToString(CultureInfo.InvariantCulture) ?? "none"}: exit {r.ExitCode}");
        long peak = File.Exists(peakFile) ? long.Parse(File.ReadAllText(peakFile).Trim(), CultureInfo.InvariantCulture) : 0;
        return (r, peak);
    }

    /// <summary>
    /// Rewrites one BF16 tensor of a safetensors file with more rows (its first dimension, or the second of a [1, N, D]
    /// table): <paramref name="size"/> rows for a table, <paramref name="size"/>² for a square position table, the new
    /// rows a small constant; and sets <paramref name="configKey"/> of config.json to <paramref name="size"/>.
    /// </summary>
    private static void Grow(string folder, string file, string tensor, string configKey, int size)
    {
        string path = Path.Combine(folder, file);
        var (metadata, tensors) = ReadTensors(path);
        var grownTensors = tensors.Select(t =>
        {
            if (t.Name != tensor) return t;
            var shape = t.Shape.ToArray();
            int rowAxis = shape.Length == 3 ? 1 : 0;
            shape[rowAxis] = rowAxis == 1 ? (long)size * size : size;
            long elements = shape.Aggregate(1L, (a, d) => a * d);
            var grown = new byte[elements * 2];
            t.Bytes.CopyTo(grown, 0);
            for (long i = t.Bytes.Length; i < grown.Length; i += 2) (grown[i], grown[i + 1]) = (0x10, 0x3c); // bf16 ≈ 0.0088
            return t with { Shape = shape, Bytes = grown };
        }).ToList();
        WriteTensors(path, metadata, grownTensors);
        SetConfig(folder, configKey, size);
    }

    private sealed record StoredTensor(string Name, string DType, long[] Shape, byte[] Bytes);

    private static (JsonNode? Metadata, List<StoredTensor> Tensors) ReadTensors(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        long headerLength = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)headerLength))!.AsObject();
        int dataStart = 8 + (int)headerLength;
        var tensors = header.Where(e => e.Key != "__metadata__")
            .OrderBy(e => e.Value!["data_offsets"]![0]!.GetValue<long>())
            .Select(e =>
            {
                long start = e.Value!["data_offsets"]![0]!.GetValue<long>(), end = e.Value["data_offsets"]![1]!.GetValue<long>();
                return new StoredTensor(e.Key, e.Value["dtype"]!.GetValue<string>(), e.Value["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray(),
                    bytes[(dataStart + (int)start)..(dataStart + (int)end)]);
            }).ToList();
        return (header["__metadata__"]?.DeepClone(), tensors);
    }

    private static void WriteTensors(string path, JsonNode? metadata, IReadOnlyList<StoredTensor> tensors)
    {
        using var data = new MemoryStream();
        var newHeader = new JsonObject();
        if (metadata is not null) newHeader["__metadata__"] = metadata;
        foreach (var t in tensors)
        {
            newHeader[t.Name] = new JsonObject
            {
                ["dtype"] = t.DType,
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(data.Length, data.Length + t.Bytes.Length),
            };
            data.Write(t.Bytes);
        }
        byte[] headerBytes = Encoding.UTF8.GetBytes(newHeader.ToJsonString());
        int padded = (headerBytes.Length + 7) / 8 * 8;
        using var outFile = File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(length, padded);
        outFile.Write(length);
        outFile.Write(headerBytes);
        for (int i = headerBytes.Length; i < padded; i++) outFile.WriteByte((byte)' ');
        data.Position = 0;
        data.CopyTo(outFile);
    }

    private static void SetConfig(string folder, string key, int value)
    {
        string configPath = Path.Combine(folder, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config[key] = value;
        File.WriteAllText(configPath, config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
