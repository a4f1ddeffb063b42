namespace AccelAes.Loader.Tokenizers;

/// <summary>
/// The result of one tokenizer call for one prompt.
/// </summary>
/// <param name="InputIds">The ids the encoder gets: special tokens, content, padding.</param>
/// <param name="AttentionMask">1 for real tokens (special tokens included), 0 for padding.</param>
/// <param name="Truncated">Content tokens were dropped to fit the call's max length.</param>
/// <param name="UntruncatedLength">
/// Length of the sequence without truncation or padding, special tokens included
/// (<c>len(tokenizer(prompt).input_ids)</c>), so a caller can say how much was cut.
/// </param>
public sealed record TokenizedPrompt(int[] InputIds, int[] AttentionMask, bool Truncated, int UntruncatedLength)
{
    /// <summary>Number of ids, padding included.</summary>
    public int Length => InputIds.Length;

    /// <summary>How many tokens truncation dropped (0 when not truncated), for the "prompt was truncated" warning.</summary>
    public int DroppedTokenCount => Truncated ? Math.Max(0, UntruncatedLength - TokenCount) : 0;

    /// <summary>Number of non-padding ids.</summary>
    public int TokenCount
    {
        get
        {
            int n = 0;
            foreach (int m in AttentionMask) n += m;
            return n;
        }
    }
}
