using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models;

/// <summary>Shape checks on model inputs, with errors that name the argument as diffusers' forward does.</summary>
public static class ModelInputs
{
    public static void Require(bool ok, string argument, Shape actual, string expected)
    {
        if (!ok) throw new ModelInputException(argument, $"Input '{argument}' has shape {actual}; expected {expected}.");
    }
}

/// <summary>A model input of the wrong shape, or a missing / unexpected input name.</summary>
public sealed class ModelInputException(string argument, string message) : AccelAesException(message)
{
    public string Argument { get; } = argument;
}
