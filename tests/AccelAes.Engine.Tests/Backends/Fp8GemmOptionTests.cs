using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cuda;

namespace AccelAes.Engine.Tests.Backends;

/// <summary>ACCELAES_FP8_GEMM sets the CUDA backend's <see cref="CudaBackendOptions.Fp8Gemm"/> for every host (the CLI's --fp8-gemm overrides it).</summary>
public class Fp8GemmOptionTests
{
    [Theory]
    [InlineData(null, Fp8GemmMode.Auto)]
    [InlineData("", Fp8GemmMode.Auto)]
    [InlineData("auto", Fp8GemmMode.Auto)]
    [InlineData(" ON ", Fp8GemmMode.On)]
    [InlineData("off", Fp8GemmMode.Off)]
    public void The_fp8_gemm_variable_sets_the_cuda_option(string? value, Fp8GemmMode expected)
    {
        string? before = Environment.GetEnvironmentVariable(BackendFactory.Fp8GemmVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.Fp8GemmVariable, value);
            Assert.Equal(expected, BackendFactory.DefaultCudaOptions().Fp8Gemm);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.Fp8GemmVariable, before);
        }
    }

    [Fact]
    public void An_unknown_fp8_gemm_value_is_an_error_naming_its_source()
    {
        var e = Assert.Throws<AccelAesException>(() => BackendFactory.ParseFp8Gemm("fast", "--fp8-gemm"));
        Assert.Contains("--fp8-gemm='fast'", e.Message);
        Assert.Contains("auto, on or off", e.Message);
    }
}
