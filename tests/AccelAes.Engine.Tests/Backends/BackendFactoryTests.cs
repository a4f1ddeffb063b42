using AccelAes.Engine.Backends;

namespace AccelAes.Engine.Tests.Backends;

/// <summary>
/// <see cref="BackendFactory"/>'s choices that need no GPU: backend names and the ACCELAES_CUDA_GRAPHS switch.
/// Nothing else in this test assembly reads that variable, so setting it here cannot disturb tests running alongside.
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

    [Fact]
    public void An_unknown_backend_name_lists_the_known_ones()
    {
        var e = Assert.Throws<AccelAesException>(() => BackendFactory.Create("tpu"));
        Assert.Contains("cpu, cuda", e.Message);
    }
}
