namespace AccelAes.Engine.Pipelines.Generation;

/// <summary>
/// What a front end calls each setting of a <see cref="GenerationRequest"/>, so the one validation
/// (<see cref="GenerationRequestValidation"/>) names the option the user actually typed: <c>--guidance</c> on the
/// CLI, <c>accelaes_generate_options.guidance</c> in the C ABI, the property name for code calling the engine directly.
/// </summary>
public sealed record GenerationFieldNames(string Steps, string Guidance, string TrueCfgScale, string Width, string Height)
{
    /// <summary>Property names, for requests built in code.</summary>
    public static GenerationFieldNames Engine { get; } = new("Steps", "GuidanceScale", "TrueCfgScale", "Width", "Height");

    /// <summary>The <c>accelaes generate</c> options.</summary>
    public static GenerationFieldNames Cli { get; } = new("--steps", "--guidance", "--true-cfg-scale", "--width", "--height");
}
