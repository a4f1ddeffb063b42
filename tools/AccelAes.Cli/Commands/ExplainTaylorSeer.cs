using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.TaylorSeer;

namespace AccelAes.Cli.Commands;

/// <summary>`accelaes explain --accel taylorseer`: TaylorSeer's schedule is static, so explain prints all of it and its forecast.</summary>
internal static class ExplainTaylorSeer
{
    public static void Show(AccelerationOptions options, int steps, bool json)
    {
        var schedule = new TaylorSeerSchedule(options.Interval, options.Warmup, steps);
        const string rule = "step k computes iff k < warmup (first_enhance) or (k − (warmup − 1)) mod interval = 0 (fresh_threshold); a computing " +
                            "step runs every block and updates, for each block's attention and MLP outputs (before their gates), the Taylor factors " +
                            "f₀ = feature, fᵢ₊₁ = (fᵢ − fᵢ at the previous computed step) / steps between them, up to max_order (derivatives only after " +
                            "step warmup − 2, as the official code); the steps between add Σ fᵢ·xⁱ / i! (x = steps since the last computed step) through " +
                            "this step's gates.";
        ExplainStaticPolicy.Show("taylorseer", steps,
            [("interval", options.Interval), ("max_order", options.TaylorOrder), ("warmup", options.Warmup)], schedule.Computes,
            "forecasts each block's attention and MLP outputs", rule, json);
    }
}
