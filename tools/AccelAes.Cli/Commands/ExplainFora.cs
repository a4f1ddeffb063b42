using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Fora;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes explain --accel fora`: FORA's schedule is static, so explain prints all of it and the rule that made it.</summary>
internal static class ExplainFora
{
    public static void Show(AccelerationOptions options, int steps, bool json)
    {
        var schedule = new ForaSchedule(options.Interval, steps);
        const string rule = "step k computes iff k = 0 or (steps − 1 − k) mod interval = 0 (the official rule counts steps down, so the last step " +
                            "always computes); a computing step runs every block and caches each block's attention and MLP outputs (before their " +
                            "gates); the steps between run the embeddings, each block's adaLN modulation and norm_out / proj_out, adding the " +
                            "cached outputs through this step's gates.";
        ExplainStaticPolicy.Show("fora", steps, [("interval", options.Interval)], schedule.Computes,
            "reuses each block's cached attention and MLP outputs", rule, json);
    }
}
