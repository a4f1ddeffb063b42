using AccelAes.Engine.Diagnostics;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// `accelaes selftest`'s model part on the CUDA backend: one whole tiny-model forward per component class against the
/// CPU. Skipped without a GPU; runs on the CPU emulator (tests/AccelAes.Kernels.Tests/Emulator/run-gpu-tests.sh ModelSelfTest).
/// </summary>
[Collection(CudaDeviceCollection.Name)]
public class CudaModelSelfTests(CudaFixture fixture, ITestOutputHelper output) : IClassFixture<CudaFixture>
{
    public static TheoryData<string> Cases => new(ModelSelfTest.Cases().Select(c => c.Name));

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void ModelSelfTest_Forward_MatchesTheCpu(string name)
    {
        Skip.If(fixture.Backend is null, fixture.SkipReason);
        var results = ModelSelfTest.RunAll(fixture.Backend!, fixture.Cpu, filter: c => c.Name == name);
        var r = Assert.Single(results);
        output.WriteLine(r.ToString());
        Assert.True(r.Passed, r.ToString());
    }
}
