namespace AccelAes.Engine.Tensors;

/// <summary>
/// The check of <see cref="IBackend.LinearOfRows"/>'s row range, one wording for every backend (a model's programming error,
/// not user input).
/// </summary>
public static class RowRange
{
    public static void Check(string op, Tensor x, int start, int count)
    {
        if (x.Shape.Rank != 3)
            throw new ArgumentException($"{op}: input {x.Shape} must be [B, S, K].");
        if (start < 0 || count < 0 || (long)start + count > x.Shape[1])
            throw new ArgumentException($"{op}: rows [{start}, {(long)start + count}) do not fit the {x.Shape[1]} rows of input {x.Shape}.");
    }
}
