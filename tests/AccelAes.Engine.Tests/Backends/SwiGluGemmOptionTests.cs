using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cuda;

namespace AccelAes.Engine.Tests.Backends;

/// <summary>ACCELAES_SWIGLU_GEMM sets the CUDA backend's <see cref="CudaBackendOptions.SwiGluGemm"/> for every host (the CLI's --swiglu-gemm overrides it).</summary>
public class SwiGluGemmOptionTests
{
    [Theory]
    [InlineData(null, SwiGluGemm.Auto)]
    [InlineData("", SwiGluGemm.Auto)]
    [InlineData("auto", SwiGluGemm.Auto)]
    [InlineData(" FUSED ", SwiGluGemm.Fused)]
    [InlineData("split", SwiGluGemm.Split)]
    public void The_swiglu_gemm_variable_sets_the_cuda_option(string? value, SwiGluGemm expected)
    {
        string? before = Environment.GetEnvironmentVariable(BackendFactory.SwiGluGemmVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.SwiGluGemmVariable, value);
            Assert.Equal(expected, BackendFactory.DefaultCudaOptions().SwiGluGemm);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.SwiGluGemmVariable, before);
        }
    }

    [Fact]
    public void An_unknown_swiglu_gemm_value_is_an_error_naming_its_source()
    {
        var e = Assert.Throws<AccelAesException>(() => BackendFactory.ParseSwiGluGemm("fast", "ACCELAES_SWIGLU_GEMM"));
        Assert.Contains("ACCELAES_SWIGLU_GEMM='fast'", e.Message);
        Assert.Contains("auto, fused or split", e.Message);
    }
}
