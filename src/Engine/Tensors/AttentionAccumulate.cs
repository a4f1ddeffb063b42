namespace AccelAes.Engine.Tensors;

/// <summary>
/// The checks every backend makes on <see cref="IBackend.AttentionAddScaledInto"/>, in one wording (programming errors of
/// a model, not user input).
/// </summary>
public static class AttentionAccumulate
{
    public const string Name = "AttentionAddScaledInto";

    /// <summary>
    /// The destination has Attention's output shape [B, Sq, Hq, Dv] for these q [B, Sq, Hq, D] and v [B, Sk, Hkv, Dv];
    /// the head scale is [Hq]. (q, k and v themselves are checked by the attention.)
    /// </summary>
    public static void Check(Tensor destination, Tensor headScale, Tensor q, Tensor v)
    {
        if (q.Shape.Rank != 4 || v.Shape.Rank != 4)
            throw new ArgumentException($"{Name}: q {q.Shape} and v {v.Shape} must have rank 4.");
        var output = new Shape(q.Shape[0], q.Shape[1], q.Shape[2], v.Shape[3]);
        if (destination.Shape != output)
            throw new ArgumentException($"{Name}: destination {destination.Shape} must be the attention's output shape {output}.");
        if (headScale.Shape != new Shape(q.Shape[2]))
            throw new ArgumentException($"{Name}: head scale {headScale.Shape} must be [{q.Shape[2]}], one factor per query head.");
    }
}
