using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>The one-letter-per-step form of a schedule (the C ABI's accelaes_generate_result.schedule).</summary>
public class StepScheduleLettersTests
{
    [Fact]
    public void Each_kind_has_its_documented_letter_and_a_schedule_reads_in_step_order()
    {
        Assert.Equal("FMCSX", new string([.. new[] { StepKind.Full, StepKind.FullCaptureMask, StepKind.FullFillCache, StepKind.Sparse, StepKind.Skip }
            .Select(k => k.Letter())]));
        Assert.Equal(Enum.GetValues<StepKind>().Length, Enum.GetValues<StepKind>().Select(k => k.Letter()).Distinct().Count());

        const int steps = 12;
        AccelerationOptions o = new AccelerationRequest(AccelerationPreset.AccelAes, [new("sparse", "on")]).Resolve(Backbone.Sd3, steps, 7);
        var sigmas = Enumerable.Range(0, steps + 1).Select(i => 1f - i / (float)steps).ToArray();
        StepSchedule schedule = StepSchedule.Create(o, steps, sigmas);
        string letters = schedule.ToLetters();
        Assert.Equal(steps, letters.Length);
        for (int i = 0; i < steps; i++) Assert.Equal(schedule[i].Kind.Letter(), letters[i]);
        Assert.Equal(schedule.SkippedCount, letters.Count(c => c == 'X'));
        Assert.Equal(schedule.SparseCount, letters.Count(c => c == 'S'));
        Assert.Equal("FFFF", StepScheduleLetters.Dense(4));
    }
}
