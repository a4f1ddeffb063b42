using AccelAes.Kernels;

namespace AccelAes.Cli.Tests;

/// <summary>`accelaes selftest` where there is no GPU: a distinct exit code and a message that says why.</summary>
public class SelftestCliTests
{
    [SkippableFact]
    public void Without_a_gpu_selftest_says_so_and_exits_4()
    {
        // On a machine with a GPU selftest really runs (minutes); that is tools/device-check.sh's job, not a unit test's.
        var detection = CudaDevice.Detect();
        Skip.If(detection.IsAvailable, $"a GPU is present ({detection.Summary}); the no-GPU path cannot be exercised here");

        var r = CliRunner.Run("selftest", "--skip-models");

        Assert.True(r.ExitCode == 4, r.All);
        Assert.Contains("selftest needs a CUDA GPU; nothing was checked", r.All);
        Assert.Contains($"check {(int?)detection.FailedCheck} ({detection.FailedCheck}) failed", CliCache.Flat(r.All)); // the console wraps long lines
    }

    [Fact]
    public void A_bad_device_ordinal_option_is_a_usage_error()
    {
        var r = CliRunner.Run("selftest", "--device", "zero");
        Assert.Equal(2, r.ExitCode);
    }
}
