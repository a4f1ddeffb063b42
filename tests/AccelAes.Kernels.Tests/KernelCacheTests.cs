using AccelAes.Kernels.Compilation;

namespace AccelAes.Kernels.Tests;

public class KernelCacheTests
{
    private static readonly KernelSource Source = new("probe.cu",
        "#include \"common.cuh\"\nextern \"C\" __global__ void probe_f32(float* x, u64 n) { ACCELAES_GRID_STRIDE(i, n) { x[i] = 2.0f * x[i]; } }\n");

    [SkippableFact]
    public void SecondCompile_IsACacheHit_AlsoFromANewCompiler()
    {
        Requirements.Nvrtc();
        using var dir = new TempDirectory();
        var first = new KernelCompiler(new KernelCache(dir.Path)).Compile(Source, GpuArchitecture.Compute(80));
        Assert.Equal(CacheOutcome.Miss, first.Cache);
        var second = new KernelCompiler(new KernelCache(dir.Path)).Compile(Source, GpuArchitecture.Compute(80));
        Assert.Equal(CacheOutcome.Hit, second.Cache);
        Assert.Equal(first.Image, second.Image);
        Assert.Equal(first.Log, second.Log);
        Assert.Equal(first.PtxBytes, second.PtxBytes);
        Assert.Equal(first.CacheKey, second.CacheKey);
        // Only the entry is left: no temporary files.
        Assert.Single(Directory.GetFiles(dir.Path));
        Assert.EndsWith(".kmod", Directory.GetFiles(dir.Path)[0]);
    }

    [SkippableFact]
    public void CubinEntries_KeepTheirResourceReport()
    {
        Requirements.Nvrtc();
        using var dir = new TempDirectory();
        var first = new KernelCompiler(new KernelCache(dir.Path)).Compile(Source, GpuArchitecture.Sm(86));
        var second = new KernelCompiler(new KernelCache(dir.Path)).Compile(Source, GpuArchitecture.Sm(86));
        Assert.Equal(CacheOutcome.Hit, second.Cache);
        Assert.Equal(KernelImageKind.Cubin, second.ImageKind);
        Assert.Equal(first.Resources, second.Resources);
        Assert.Single(second.Resources);
    }

    [SkippableFact]
    public void ChangedSourceHeaderOptionsOrArchitecture_IsAMiss()
    {
        Requirements.Nvrtc();
        using var dir = new TempDirectory();
        var cache = new KernelCache(dir.Path);
        var compiler = new KernelCompiler(cache);
        var arch = GpuArchitecture.Compute(80);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile(Source, arch).Cache);
        Assert.Equal(CacheOutcome.Hit, compiler.Compile(Source, arch).Cache);

        Assert.Equal(CacheOutcome.Miss, compiler.Compile(Source with { Text = Source.Text + "// edited\n" }, arch).Cache);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile(Source, arch, new KernelCompileOptions { FastMath = true }).Cache);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile(Source, arch, new KernelCompileOptions { Defines = new Dictionary<string, string> { ["TILE"] = "64" } }).Cache);
        Assert.Equal(CacheOutcome.Miss, compiler.Compile(Source, GpuArchitecture.Compute(86)).Cache);

        var editedHeaders = KernelSources.Headers.Select(h => h with { Text = h.Text + "\n// edited header\n" }).ToArray();
        Assert.Equal(CacheOutcome.Miss, new KernelCompiler(cache, editedHeaders).Compile(Source, arch).Cache);

        // And the original is still a hit: entries are per key, nothing was overwritten.
        Assert.Equal(CacheOutcome.Hit, compiler.Compile(Source, arch).Cache);
    }

    [SkippableTheory]
    [InlineData("flip-image-byte")]
    [InlineData("truncate")]
    [InlineData("garbage")]
    [InlineData("empty")]
    [InlineData("append")]
    public void CorruptEntry_IsRecompiledNotTrusted(string damage)
    {
        Requirements.Nvrtc();
        using var dir = new TempDirectory();
        var compiler = new KernelCompiler(new KernelCache(dir.Path));
        var arch = GpuArchitecture.Compute(80);
        var good = compiler.Compile(Source, arch);
        var path = Directory.GetFiles(dir.Path).Single();
        var bytes = File.ReadAllBytes(path);
        switch (damage)
        {
            case "flip-image-byte": bytes[bytes.Length - 100] ^= 0x20; break; // inside the PTX text
            case "truncate": bytes = bytes[..(bytes.Length / 2)]; break;
            case "garbage": Random.Shared.NextBytes(bytes); break;
            case "empty": bytes = []; break;
            case "append": bytes = [.. bytes, 0x00]; break;
        }
        File.WriteAllBytes(path, bytes);

        var again = compiler.Compile(Source, arch);
        Assert.Equal(CacheOutcome.CorruptRecompiled, again.Cache);
        Assert.Contains("corrupt", again.CacheProblem);
        Assert.Equal(good.Image, again.Image);
        // The entry was rewritten and verifies again.
        Assert.Equal(CacheOutcome.Hit, compiler.Compile(Source, arch).Cache);
    }

    [Fact]
    public void Key_DependsOnEveryInput()
    {
        var headers = KernelSources.Headers;
        var options = KernelCompileOptions.Default.ToNvrtcOptions(GpuArchitecture.Compute(80));
        var baseKey = KernelCache.Key(Source, headers, options, GpuArchitecture.Compute(80), "11.8");
        Assert.Equal(64, baseKey.Length);
        Assert.Equal(baseKey, KernelCache.Key(Source, headers, options, GpuArchitecture.Compute(80), "11.8"));
        Assert.NotEqual(baseKey, KernelCache.Key(Source with { Text = Source.Text + " " }, headers, options, GpuArchitecture.Compute(80), "11.8"));
        Assert.NotEqual(baseKey, KernelCache.Key(Source with { FileName = "other.cu" }, headers, options, GpuArchitecture.Compute(80), "11.8"));
        Assert.NotEqual(baseKey, KernelCache.Key(Source, [.. headers.Select(h => h with { Text = h.Text + " " })], options, GpuArchitecture.Compute(80), "11.8"));
        Assert.NotEqual(baseKey, KernelCache.Key(Source, headers, [.. options, "-DX=1"], GpuArchitecture.Compute(80), "11.8"));
        Assert.NotEqual(baseKey, KernelCache.Key(Source, headers, options, GpuArchitecture.Compute(86), "11.8"));
        Assert.NotEqual(baseKey, KernelCache.Key(Source, headers, options, GpuArchitecture.Compute(80), "12.8"));
    }

    [Fact]
    public void Entries_RoundTrip_AndFailVerificationWhenAltered()
    {
        using var dir = new TempDirectory();
        var cache = new KernelCache(dir.Path);
        var key = new string('a', 64);
        var path = cache.PathFor("x.cu", GpuArchitecture.Sm(89), key);
        var image = new byte[1000];
        Random.Shared.NextBytes(image);
        cache.Write(path, key, new KernelCache.Entry(KernelImageKind.Cubin, 1234, TimeSpan.FromMilliseconds(55), "log ✓", image));

        var read = cache.TryRead(path, key, out var problem);
        Assert.Null(problem);
        Assert.NotNull(read);
        Assert.Equal(image, read.Image);
        Assert.Equal("log ✓", read.Log);
        Assert.Equal(1234, read.PtxBytes);
        Assert.Equal(KernelImageKind.Cubin, read.ImageKind);

        Assert.Null(cache.TryRead(path, new string('b', 64), out problem)); // another key's file name collision
        Assert.Equal("key mismatch", problem);

        var bytes = File.ReadAllBytes(path);
        bytes[^40] ^= 1; // last bytes of the image
        File.WriteAllBytes(path, bytes);
        Assert.Null(cache.TryRead(path, key, out problem));
        Assert.Equal("image hash mismatch", problem);

        Assert.Null(cache.TryRead(Path.Combine(dir.Path, "absent.kmod"), key, out problem));
        Assert.Null(problem); // absent is a plain miss, not corruption
    }

    [Fact]
    public void DefaultDirectory_FollowsTheEnvironmentVariable()
    {
        var previous = Environment.GetEnvironmentVariable(KernelCache.CacheDirectoryVariable);
        try
        {
            Environment.SetEnvironmentVariable(KernelCache.CacheDirectoryVariable, "/tmp/accelaes-cache-root");
            Assert.Equal(Path.Combine("/tmp/accelaes-cache-root", "kernels"), KernelCache.DefaultDirectory());
            Environment.SetEnvironmentVariable(KernelCache.CacheDirectoryVariable, null);
            if (!OperatingSystem.IsWindows())
                Assert.EndsWith(Path.Combine(".cache", "accelaes", "kernels"), KernelCache.DefaultDirectory());
        }
        finally
        {
            Environment.SetEnvironmentVariable(KernelCache.CacheDirectoryVariable, previous);
        }
    }
}
