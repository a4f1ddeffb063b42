using AccelAes.Engine.Backends;

namespace AccelAes.Engine.Tests.Backends;

/// <summary>
/// <see cref="BackendFactory"/>'s choices that need no GPU: backend names, the ACCELAES_CUDA_GRAPHS switch and
/// the ACCELAES_CUDA_RECLAIM_BYTES threshold. Nothing else in this test assembly reads those variables, so setting it here cannot disturb tests running alongside.
/// </summary>
public class BackendFactoryTests
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("1", true)]
    [InlineData("ON", true)]
    [InlineData("0", false)]
    [InlineData(" off ", false)]
    [InlineData("false", false)]
    public void The_graphs_variable_turns_cuda_graphs_on_or_off(string? value, bool expected)
    {
        string? before = Environment.GetEnvironmentVariable(BackendFactory.GraphsVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.GraphsVariable, value);
            Assert.Equal(expected, BackendFactory.DefaultCudaOptions().UseGraphs);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.GraphsVariable, before);
        }
    }

    [Fact]
    public void An_unknown_graphs_value_is_an_error_naming_the_variable()
    {
        string? before = Environment.GetEnvironmentVariable(BackendFactory.GraphsVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.GraphsVariable, "sometimes");
            var e = Assert.Throws<AccelAesException>(() => BackendFactory.DefaultCudaOptions());
            Assert.Contains("ACCELAES_CUDA_GRAPHS='sometimes'", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.GraphsVariable, before);
        }
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("", null)]
    [InlineData("1MiB", 1UL << 20)]
    [InlineData(" 4000000 ", 4_000_000UL)]
    public void The_reclaim_variable_sets_the_pools_reclaim_threshold(string? value, ulong? expected)
    {
        string? before = Environment.GetEnvironmentVariable(BackendFactory.ReclaimVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.ReclaimVariable, value);
            Assert.Equal(expected, BackendFactory.DefaultCudaOptions().ReclaimThresholdBytes);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.ReclaimVariable, before);
        }
    }

    [Fact]
    public void A_reclaim_value_that_is_no_size_is_an_error_naming_the_variable()
    {
        string? before = Environment.GetEnvironmentVariable(BackendFactory.ReclaimVariable);
        try
        {
            Environment.SetEnvironmentVariable(BackendFactory.ReclaimVariable, "often");
            var e = Assert.Throws<AccelAesException>(() => BackendFactory.DefaultCudaOptions());
            Assert.Contains("ACCELAES_CUDA_RECLAIM_BYTES", e.Message);
            Assert.Contains("'often'", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable(BackendFactory.ReclaimVariable, before);
        }
    }

    [Fact]
    public void An_unknown_backend_name_lists_the_known_ones()
    {
        var e = Assert.Throws<AccelAesException>(() => BackendFactory.Create("tpu"));
        Assert.Contains("cpu, cuda", e.Message);
    }
}
