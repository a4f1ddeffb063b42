namespace AccelAes;

/// <summary>
/// Base of every error a user can cause (bad files, bad configs, bad options, unsupported models).
/// The CLI prints <see cref="Exception.Message"/> without a stack trace, so the message must name
/// the cause: the file, the tensor, the field, the value.
/// </summary>
public class AccelAesException : Exception
{
    public AccelAesException(string message) : base(message) { }
    public AccelAesException(string message, Exception inner) : base(message, inner) { }
}
