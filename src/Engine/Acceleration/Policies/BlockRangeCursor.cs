namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>
/// Where one forward's block ranges stand (<see cref="ISplitForward.RunBlockRange"/>): each range starts where the
/// previous one ended, so the streams a range reads are always the ones the blocks before it left.
/// </summary>
public sealed class BlockRangeCursor(int blockCount)
{
    /// <summary>The next block to run or stand in for.</summary>
    public int Next { get; private set; }

    /// <summary>Moves past blocks <paramref name="first"/> … <paramref name="end"/> − 1.</summary>
    public void Advance(int first, int end)
    {
        if (first != Next || end < first || end > blockCount)
            throw new InvalidOperationException($"Block ranges run in order: expected a range from block {Next} within {blockCount} blocks, got [{first}, {end}).");
        Next = end;
    }

    /// <summary>Throws unless the ranges reached the last block.</summary>
    public void RequireEnd()
    {
        if (Next != blockCount)
            throw new InvalidOperationException($"The block ranges stopped at block {Next} of {blockCount}; the image after the blocks needs them all.");
    }
}
