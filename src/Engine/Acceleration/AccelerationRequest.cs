namespace AccelAes.Engine.Acceleration;

/// <summary>
/// What a user asks for (`--accel PRESET --set knob=value …`), before the backbone is known: resolved into
/// <see cref="AccelerationOptions"/> by the pipeline that runs it, with the run's steps and guidance.
/// </summary>
public sealed record AccelerationRequest(AccelerationPreset Preset, IReadOnlyList<KeyValuePair<string, string>> Overrides)
{
    public static AccelerationRequest None { get; } = new(AccelerationPreset.None, []);

    /// <summary>Parses a preset name and "knob=value" overrides; errors name the bad part.</summary>
    public static AccelerationRequest Parse(string preset, IEnumerable<string> overrides)
    {
        var pairs = new List<KeyValuePair<string, string>>();
        foreach (string o in overrides)
        {
            int eq = o.IndexOf('=');
            if (eq <= 0) throw new AccelAesException($"Acceleration override '{o}' is not of the form knob=value.");
            pairs.Add(new(o[..eq].Trim(), o[(eq + 1)..].Trim()));
        }
        return new AccelerationRequest(AccelerationOptions.ParsePreset(preset), pairs);
    }

    /// <summary>True when the request changes nothing (dense sampling, no overrides).</summary>
    public bool IsNone => Preset == AccelerationPreset.None && Overrides.Count == 0;

    /// <summary>
    /// The options for <paramref name="backbone"/>: the preset scaled to the run's steps, guidance and token grid (see
    /// <see cref="AccelerationOptions.ForRun"/>), then the overrides
    /// (validated: an override the run cannot honour is an error naming the knob; the preset alone never is).
    /// </summary>
    public AccelerationOptions Resolve(Backbone backbone, int steps, double guidance, ImageTokenGrid? grid = null)
    {
        AccelerationOptions options = AccelerationOptions.ForRun(Preset, backbone, steps, guidance, grid);
        foreach (var (knob, value) in Overrides) options = options.With(knob, value);
        return options.Validated();
    }
}
