namespace AccelAes.Engine.Planning;

/// <summary>Which weights are on the device in which phase.</summary>
public enum ResidencyPolicy
{
    /// <summary>Every component resident from load to the end.</summary>
    None,

    /// <summary>Text encoders on the device only while encoding, freed before the transformer is uploaded.</summary>
    Encoders,

    /// <summary>As <see cref="Encoders"/>, and transformer blocks streamed: two block buffers (one computing, one uploading) plus the rest.</summary>
    Sequential,
}

public static class ResidencyPolicies
{
    /// <summary>The name the CLI and JSON use.</summary>
    public static string Name(this ResidencyPolicy p) => p switch
    {
        ResidencyPolicy.None => "none",
        ResidencyPolicy.Encoders => "encoders",
        _ => "sequential",
    };

    /// <summary>
    /// Whether <c>generate</c> can run under it: every policy since sequential streams transformer blocks (issue 15). Kept
    /// so the plan's JSON keeps its <c>policy_implemented</c> field and a policy added to the plan before the runtime has one.
    /// </summary>
    public static bool RuntimeSupports(this ResidencyPolicy p) => p is ResidencyPolicy.None or ResidencyPolicy.Encoders or ResidencyPolicy.Sequential;

    /// <summary>The policy a CLI / JSON name stands for (none, encoders, sequential).</summary>
    public static ResidencyPolicy Parse(string name, string option) => name switch
    {
        "none" => ResidencyPolicy.None,
        "encoders" => ResidencyPolicy.Encoders,
        "sequential" => ResidencyPolicy.Sequential,
        _ => throw new AccelAesException($"{option} must be one of none, encoders, sequential, got '{name}'."),
    };
}
