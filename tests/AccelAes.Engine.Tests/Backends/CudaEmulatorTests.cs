using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using AccelAes.Kernels;
using AccelAes.Kernels.Compilation;
using AccelAes.Kernels.Interop;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// The CPU emulator's driver itself (tests/AccelAes.Kernels.Tests/Emulator/README.md): the emulated compute capability
/// and its limits (FAKE_CUDA_CC), the driver version and what cuModuleLoadData accepts (FAKE_CUDA_DRIVER_VERSION,
/// FAKE_CUDA_REFUSE_IMAGES) on real NVRTC images, and launches and captures from several host threads at once (two
/// backends in one process). The expectations are the CUDA documentation's, not read back from the emulator. Skipped
/// on a real driver: these pin down the stand-in the CUDA tests run on where there is no GPU.
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public unsafe class CudaEmulatorTests(ITestOutputHelper output)
{
    /// <summary>The architecture table the emulator must follow (CUDA programming guide, technical specifications).</summary>
    private static readonly Dictionary<string, (int Major, int Minor, int SharedOptin, int SharedPerSm, int ThreadsPerSm, int BlocksPerSm)> Architectures = new()
    {
        ["8.0"] = (8, 0, 166912, 167936, 2048, 32),
        ["8.6"] = (8, 6, 101376, 102400, 1536, 16),
        ["8.9"] = (8, 9, 101376, 102400, 1536, 24),
        ["9.0"] = (9, 0, 232448, 233472, 2048, 32),
        ["12.0"] = (12, 0, 101376, 102400, 1536, 32),
    };

    /// <summary>fill_f32(buffer, value, n): one launch of ⌈n / 256⌉ blocks of 256 threads (or 1 × 32 when n is 32).</summary>
    private static void Fill(CuFunction fill, CuStream stream, CuDevicePtr buffer, float value, ulong n, uint shared = 0)
    {
        ulong pointer = buffer.Address;
        var args = stackalloc void*[3] { &pointer, &value, &n };
        uint block = n <= 32 ? 32u : 256u;
        CudaDriver.LaunchKernel(fill, (uint)((n + block - 1) / block), block, shared, stream, args, $"fill_f32 shared {shared}");
    }

    private static float[] Download(CuDevicePtr buffer, int n, CuStream stream)
    {
        var result = new float[n];
        fixed (float* r = result)
            CudaDriver.MemcpyDtoHAsync(r, buffer, (ulong)n * 4, stream);
        CudaDriver.StreamSynchronize(stream);
        return result;
    }

    private static string ExpectedCc => Environment.GetEnvironmentVariable("FAKE_CUDA_CC") is { Length: > 0 } cc ? cc : "8.0";

    [SkippableFact]
    public void The_device_reports_the_emulated_compute_capability_and_its_limits()
    {
        EmulatorKnobs.Configure();
        Assert.True(Architectures.TryGetValue(ExpectedCc, out var expected), $"FAKE_CUDA_CC={ExpectedCc} is not a documented value");
        var device = CudaDevice.Detect().Devices[0];
        output.WriteLine($"FAKE_CUDA_CC={ExpectedCc}: {device}");
        Assert.Equal(new ComputeCapability(expected.Major, expected.Minor), device.ComputeCapability);
        int A(CuDeviceAttribute a) => CudaDriver.DeviceAttribute(0, a);
        Assert.Equal(expected.SharedOptin, A(CuDeviceAttribute.MaxSharedMemoryPerBlockOptin));
        Assert.Equal(expected.SharedPerSm, A(CuDeviceAttribute.MaxSharedMemoryPerMultiprocessor));
        Assert.Equal(expected.ThreadsPerSm, A(CuDeviceAttribute.MaxThreadsPerMultiprocessor));
        Assert.Equal(expected.BlocksPerSm, A(CuDeviceAttribute.MaxBlocksPerMultiprocessor));
        Assert.Equal(65536, A(CuDeviceAttribute.MaxRegistersPerMultiprocessor));
        Assert.Equal(48 * 1024, A(CuDeviceAttribute.MaxSharedMemoryPerBlock));
        Assert.Equal(expected.SharedOptin, device.MaxSharedMemoryPerBlockOptin);
    }

    [SkippableTheory]
    [InlineData("8.0")]
    [InlineData("8.6")]
    [InlineData("8.9")]
    [InlineData("9.0")]
    [InlineData("12.0")]
    public unsafe void Dynamic_shared_memory_is_limited_to_48_KiB_then_to_the_architectures_opt_in_limit(string cc)
    {
        using var knob = EmulatorKnobs.Set("FAKE_CUDA_CC", cc);
        var expected = Architectures[cc];
        Assert.Equal(expected.SharedOptin, CudaDriver.DeviceAttribute(0, CuDeviceAttribute.MaxSharedMemoryPerBlockOptin));
        Assert.Equal(expected.Major, CudaDriver.DeviceAttribute(0, CuDeviceAttribute.ComputeCapabilityMajor));
        Assert.Equal(expected.Minor, CudaDriver.DeviceAttribute(0, CuDeviceAttribute.ComputeCapabilityMinor));

        var compiled = new KernelCompiler(cache: null).Compile("fill.cu", GpuArchitecture.Compute(80));
        using var module = CudaModule.Load(compiled);
        var fill = module.Function("fill_f32");
        var stream = CudaDriver.StreamCreate();
        var buffer = CudaDriver.MemAlloc(32 * 4);
        try
        {
            void Launch(uint shared) => Fill(fill, stream, buffer, 2.5f, 32, shared);
            int Status(Action a) => Assert.Throws<CudaException>(a).Status;

            Launch(48 * 1024);
            Assert.Equal((int)CuResult.CUDA_ERROR_INVALID_VALUE, Status(() => Launch(48 * 1024 + 16)));
            Assert.Equal((int)CuResult.CUDA_ERROR_INVALID_VALUE, Status(() => module.SetMaxDynamicSharedMemory("fill_f32", expected.SharedOptin + 1)));
            module.SetMaxDynamicSharedMemory("fill_f32", expected.SharedOptin);
            Launch((uint)expected.SharedOptin);
            Assert.Equal((int)CuResult.CUDA_ERROR_INVALID_VALUE, Status(() => Launch((uint)expected.SharedOptin + 16)));

            Assert.All(Download(buffer, 32, stream), v => Assert.Equal(2.5f, v));
        }
        finally
        {
            CudaDriver.MemFree(buffer);
            CudaDriver.StreamDestroy(stream);
        }
    }

    /// <summary>The newest PTX ISA a driver accepts (CUDA release notes), the table FAKE_CUDA_DRIVER_VERSION follows.</summary>
    private static readonly (int Driver, int Isa)[] PtxIsa =
    [
        (11000, 70), (11010, 71), (11020, 72), (11030, 73), (11040, 74), (11050, 75), (11060, 76), (11070, 77), (11080, 78),
        (12000, 80), (12010, 81), (12020, 82), (12030, 83), (12040, 84), (12050, 85), (12060, 85), (12080, 87), (12090, 88),
        (13000, 90),
    ];

    private static int NewestIsa(int driver) => PtxIsa.Where(r => r.Driver <= driver).Select(r => r.Isa).DefaultIfEmpty(0).Last();

    private static int LoadStatus(byte[] image)
    {
        try
        {
            CudaDriver.ModuleUnload(CudaDriver.ModuleLoadData(image, "test image"));
            return 0;
        }
        catch (CudaException e)
        {
            return e.Status;
        }
    }

    /// <summary>The PTX of fill.cu with its `.version` line replaced.</summary>
    private static byte[] WithPtxVersion(byte[] ptx, int isa)
    {
        var text = Encoding.ASCII.GetString(ptx);
        var start = text.IndexOf(".version ", StringComparison.Ordinal);
        Assert.True(start >= 0, "NVRTC's PTX has no .version line");
        var end = text.IndexOf('\n', start);
        return Encoding.ASCII.GetBytes(text[..start] + $".version {isa / 10}.{isa % 10}" + text[end..]);
    }

    [SkippableFact]
    public void The_driver_version_is_the_knobs_and_a_PTX_newer_than_it_accepts_is_refused_with_its_JIT_log()
    {
        EmulatorKnobs.Configure();
        var expectedDefault = Environment.GetEnvironmentVariable("FAKE_CUDA_DRIVER_VERSION") is { Length: > 0 } v
            ? int.Parse(v, CultureInfo.InvariantCulture) : 12080;
        Assert.Equal(expectedDefault, CudaDriver.DriverVersion());

        var ptx = new KernelCompiler(cache: null).Compile("fill.cu", GpuArchitecture.Compute(80)).Image;
        foreach (var driver in new[] { 11000, 11070, 11080, 11085, 12000, 12040, 12060, 12070, 12080, 12090, 13000 })
        {
            using var knob = EmulatorKnobs.Set("FAKE_CUDA_DRIVER_VERSION", driver.ToString(CultureInfo.InvariantCulture));
            Assert.Equal(driver, CudaDriver.DriverVersion());
            int newest = NewestIsa(driver);
            output.WriteLine($"driver {driver}: newest PTX ISA {newest / 10}.{newest % 10}");
            Assert.Equal(0, LoadStatus(WithPtxVersion(ptx, newest)));
            Assert.Equal((int)CuResult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION, LoadStatus(WithPtxVersion(ptx, newest + 1)));
        }
        using (EmulatorKnobs.Set("FAKE_CUDA_DRIVER_VERSION", "10020"))
            Assert.Equal((int)CuResult.CUDA_ERROR_UNSUPPORTED_PTX_VERSION, LoadStatus(WithPtxVersion(ptx, 70)));

        // The engine's loader passes CU_JIT_ERROR_LOG_BUFFER: the refusal's explanation reaches the exception.
        using (EmulatorKnobs.Set("FAKE_CUDA_DRIVER_VERSION", "11080"))
        {
            var e = Assert.Throws<CudaException>(() => CudaDriver.ModuleLoadData(WithPtxVersion(ptx, 80), "a PTX 8.0 on driver 11.8"));
            output.WriteLine(e.Message);
            Assert.Contains("JIT log:", e.Message);
            Assert.Contains("8.0", e.Message);
        }
    }

    [SkippableFact]
    public void Cubins_load_on_their_own_major_at_a_minor_at_least_theirs_and_PTX_on_any_newer_device()
    {
        EmulatorKnobs.Configure();
        var device = CudaDevice.Detect().Devices[0].ComputeCapability;
        var compiler = new KernelCompiler(cache: null);
        foreach (var sm in compiler.Nvrtc.SupportedArchitectures.Where(a => a >= KernelCompiler.MinimumArchitecture))
        {
            var cubin = compiler.Compile("fill.cu", GpuArchitecture.Sm(sm));
            Assert.Equal(KernelImageKind.Cubin, cubin.ImageKind);
            Assert.Equal((byte)0x7f, cubin.Image[0]);
            bool cubinFits = sm / 10 == device.Major && sm % 10 <= device.Minor;
            int status = LoadStatus(cubin.Image);
            output.WriteLine($"sm_{sm} cubin on sm_{device.Architecture}: {status}");
            Assert.Equal(cubinFits ? 0 : (int)CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU, status);

            var ptx = compiler.Compile("fill.cu", GpuArchitecture.Compute(sm));
            Assert.Equal(KernelImageKind.Ptx, ptx.ImageKind);
            status = LoadStatus(ptx.Image);
            output.WriteLine($"compute_{sm} PTX on sm_{device.Architecture}: {status}");
            Assert.Equal(sm <= device.Architecture ? 0 : (int)CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU, status);
        }
    }

    [SkippableFact]
    public void Refuse_images_refuses_every_image_of_the_kind_it_names_and_only_those()
    {
        EmulatorKnobs.Configure();
        var compiler = new KernelCompiler(cache: null);
        var cubin = compiler.Compile("fill.cu", GpuArchitecture.Sm(80)).Image;
        var ptx = compiler.Compile("fill.cu", GpuArchitecture.Compute(80)).Image;
        using (EmulatorKnobs.Set("FAKE_CUDA_CC", "8.0"))
        {
            Assert.Equal(0, LoadStatus(cubin));
            Assert.Equal(0, LoadStatus(ptx));
            using (EmulatorKnobs.Set("FAKE_CUDA_REFUSE_IMAGES", "cubin"))
            {
                Assert.Equal((int)CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU, LoadStatus(cubin));
                Assert.Equal(0, LoadStatus(ptx));
            }
            using (EmulatorKnobs.Set("FAKE_CUDA_REFUSE_IMAGES", "ptx"))
            {
                Assert.Equal(0, LoadStatus(cubin));
                Assert.Equal((int)CuResult.CUDA_ERROR_NO_BINARY_FOR_GPU, LoadStatus(ptx));
            }
        }
    }

    /// <summary>
    /// The root cause of the emulator run that crashed the test host: two test classes (two backends) launching at
    /// once ran on one global thread model. Here two threads launch kernels into their own buffers while a third
    /// captures a graph on its own stream (thread-local mode, the engine's) and synchronises its own stream in
    /// between: every launch must land, the other threads' synchronisation must not break the capture, and the
    /// capture must replay.
    /// </summary>
    [SkippableFact]
    public unsafe void Launches_and_a_capture_from_several_host_threads_at_once_do_not_interfere()
    {
        EmulatorKnobs.Configure();
        var compiled = new KernelCompiler(cache: null).Compile("fill.cu", GpuArchitecture.Compute(80));
        using var module = CudaModule.Load(compiled);
        var fill = module.Function("fill_f32");
        const int n = 4096;
        const int rounds = 40;

        void FillAndCheck(CuStream stream, CuDevicePtr buffer, float value)
        {
            Fill(fill, stream, buffer, value, n);
            var result = Download(buffer, n, stream);
            Assert.All(result, v => Assert.Equal(value, v));
        }

        Exception? failure = null;
        void Worker(int id)
        {
            var stream = CudaDriver.StreamCreate();
            var buffer = CudaDriver.MemAlloc(n * 4);
            try
            {
                for (int i = 0; i < rounds; i++)
                {
                    FillAndCheck(stream, buffer, id * 1000 + i);
                    CudaDriver.ContextSynchronize();
                }
            }
            catch (Exception e)
            {
                failure ??= e;
            }
            finally
            {
                CudaDriver.MemFree(buffer);
                CudaDriver.StreamDestroy(stream);
            }
        }

        void Capturer()
        {
            var stream = CudaDriver.StreamCreate();
            var buffer = CudaDriver.MemAlloc(n * 4);
            try
            {
                for (int i = 0; i < rounds / 4; i++)
                {
                    float value = -i - 1;
                    CudaDriver.StreamBeginCapture(stream, CuStreamCaptureMode.ThreadLocal, "capture");
                    Fill(fill, stream, buffer, value, n);
                    Thread.Sleep(5); // the other threads synchronise meanwhile
                    var graph = CudaDriver.StreamEndCapture(stream, "capture");
                    var exec = CudaDriver.GraphInstantiate(graph);
                    CudaDriver.GraphLaunch(exec, stream);
                    Assert.All(Download(buffer, n, stream), v => Assert.Equal(value, v));
                    CudaDriver.GraphExecDestroy(exec);
                    CudaDriver.GraphDestroy(graph);
                }
            }
            catch (Exception e)
            {
                failure ??= e;
            }
            finally
            {
                CudaDriver.MemFree(buffer);
                CudaDriver.StreamDestroy(stream);
            }
        }

        var threads = new[] { new Thread(() => Worker(1)), new Thread(() => Worker(2)), new Thread(Capturer) };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(3)), "a thread did not finish: a launch hung");
        Assert.Null(failure);
    }
}
