namespace AccelAes.Engine.Tensors;

/// <summary>
/// The checks every backend makes on an op that writes into a column slice of a larger tensor (<see cref="IBackend.LinearInto"/>,
/// <see cref="IBackend.AttentionInto"/>), in one wording: these are programming errors of a model, not user input.
/// </summary>
public static class ColumnSlice
{
    /// <summary>
    /// The destination has <paramref name="rows"/> rows (all leading dimensions flattened) and room for
    /// <paramref name="width"/> columns from <paramref name="columnOffset"/> on.
    /// </summary>
    public static void Check(string op, Tensor destination, int columnOffset, int width, long rows)
    {
        if (destination.Shape.Rank < 2)
            throw new ArgumentException($"{op}: destination {destination.Shape} must have rank 2 or more.");
        if (destination.Shape.Rows != rows)
            throw new ArgumentException($"{op}: destination {destination.Shape} has {destination.Shape.Rows} rows, the output has {rows}.");
        if (columnOffset < 0 || (long)columnOffset + width > destination.Shape.Last)
            throw new ArgumentException(
                $"{op}: columns [{columnOffset}, {(long)columnOffset + width}) do not fit the {destination.Shape.Last} columns of destination {destination.Shape}.");
    }
}
