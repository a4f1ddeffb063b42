namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// A tokenizer folder or file the engine cannot use (missing, corrupt, unsupported), or a tokenizer call
/// that cannot be honoured. The message names the folder or file and what was wrong with it.
/// </summary>
public sealed class TokenizerException : AccelAesException
{
    public TokenizerException(string message) : base(message) { }
    public TokenizerException(string message, Exception inner) : base(message, inner) { }
}
