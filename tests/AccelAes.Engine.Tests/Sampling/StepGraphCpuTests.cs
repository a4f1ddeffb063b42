using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Sampling;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Sampling;

/// <summary>On a backend without graphs (the CPU), <see cref="StepGraph"/> runs the work every time and uploads fresh scalars, and ranges are no-ops.</summary>
public class StepGraphCpuTests
{
    [Fact]
    public void Without_graph_support_every_run_computes_and_scalars_are_fresh_uploads()
    {
        using var cpu = new CpuBackend();
        using var graph = new StepGraph(cpu, "test");
        Assert.False(graph.UsesGraphs);
        int runs = 0;
        var results = new List<float[]>();
        for (int step = 0; step < 3; step++)
        {
            Tensor t = graph.Scalars(0, step + 0.5f, 2);
            Assert.Equal(new[] { step + 0.5f, step + 0.5f }, cpu.Download(t));
            results.Add(cpu.Download(graph.Run(StepGraphKey.Dense(t), () => { runs++; return cpu.Scale(t, 2f); })));
        }
        Assert.Equal(3, runs);
        Assert.Equal(new[] { 1f, 1f }, results[0]);
        Assert.Equal(new[] { 5f, 5f }, results[2]);
    }

    [Fact]
    public void Cpu_ranges_are_the_shared_no_op()
    {
        using var cpu = new CpuBackend();
        IBackend be = cpu;
        using var range = be.Range("step 1/2");
        Assert.Same(ProfilerRange.None, range);
    }
}
