using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// One integer per token of a batch, [batch, length] row-major, on the host: the <c>input_ids</c> or the
/// <c>attention_mask</c> a tokenizer returns. Text encoders need them on the host anyway (pooling positions,
/// mask shapes), and checking them there lets errors name the argument, the position and the bad value.
/// </summary>
public sealed class TokenGrid
{
    private readonly int[] _values;

    /// <param name="name">The forward argument this grid is ("input_ids", "attention_mask"), for errors.</param>
    public TokenGrid(int batch, int length, int[] values, string name = "input_ids")
    {
        ArgumentNullException.ThrowIfNull(values);
        if (batch <= 0 || length <= 0)
            throw new ModelInputException(name, $"Input '{name}' has shape [{batch}, {length}]; expected a non-empty [batch, sequence_length].");
        if (values.Length != batch * length)
            throw new ArgumentException($"{values.Length} values do not fill [{batch}, {length}].");
        Batch = batch;
        Length = length;
        Name = name;
        _values = (int[])values.Clone();
    }

    public int Batch { get; }
    public int Length { get; }
    /// <summary>The forward argument this grid is, used in error messages.</summary>
    public string Name { get; }

    public int this[int b, int i] => _values[b * Length + i];

    public ReadOnlySpan<int> Row(int b) => _values.AsSpan(b * Length, Length);

    public ReadOnlySpan<int> Values => _values;

    /// <summary>Rows of equal length (a tokenizer's padded output).</summary>
    public static TokenGrid FromRows(IReadOnlyList<IReadOnlyList<int>> rows, string name = "input_ids")
    {
        if (rows.Count == 0) throw new ModelInputException(name, $"Input '{name}' has no rows.");
        int length = rows[0].Count;
        for (int b = 0; b < rows.Count; b++)
            if (rows[b].Count != length)
                throw new ModelInputException(name,
                    $"Input '{name}' row {b} has {rows[b].Count} tokens but row 0 has {length}; pad the batch to one length.");
        return new TokenGrid(rows.Count, length, rows.SelectMany(r => r).ToArray(), name);
    }

    /// <summary>
    /// Reads a [batch, sequence_length] tensor of whole numbers (int64 goldens arrive as exact floats).
    /// </summary>
    public static TokenGrid FromTensor(Tensor tensor, string name)
    {
        ModelInputs.Require(tensor.Shape.Rank == 2, name, tensor.Shape, "[batch, sequence_length]");
        float[] values = tensor.Backend.Download(tensor);
        var ints = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (!(v == MathF.Floor(v)) || v < int.MinValue || v > int.MaxValue)
                throw new ModelInputException(name,
                    $"Input '{name}' holds {v} at [{i / tensor.Shape[1]}, {i % tensor.Shape[1]}]; expected whole numbers.");
            ints[i] = (int)v;
        }
        return new TokenGrid(tensor.Shape[0], tensor.Shape[1], ints, name);
    }

    /// <summary>Every id must index the embedding table: 0 ≤ id &lt; vocab_size.</summary>
    public void RequireIdsBelow(int vocabSize)
    {
        for (int i = 0; i < _values.Length; i++)
            if ((uint)_values[i] >= (uint)vocabSize)
                throw new ModelInputException(Name,
                    $"Input '{Name}' holds token id {_values[i]} at [{i / Length}, {i % Length}], outside the vocabulary " +
                    $"(vocab_size {vocabSize}: ids 0…{vocabSize - 1}). Was it tokenized for another model?");
    }

    /// <summary>An attention mask: the shape of <paramref name="ids"/>, values 1 (attend) or 0 (padding).</summary>
    public void RequireMaskFor(TokenGrid ids)
    {
        if (Batch != ids.Batch || Length != ids.Length)
            throw new ModelInputException(Name,
                $"Input '{Name}' has shape [{Batch}, {Length}]; expected the shape of '{ids.Name}', [{ids.Batch}, {ids.Length}].");
        for (int i = 0; i < _values.Length; i++)
            if (_values[i] is not (0 or 1))
                throw new ModelInputException(Name,
                    $"Input '{Name}' holds {_values[i]} at [{i / Length}, {i % Length}]; expected 1 (attend) or 0 (padding).");
    }

    /// <summary>True when every entry is 1 (a mask that masks nothing).</summary>
    public bool AllOnes() => _values.All(v => v == 1);

    /// <summary>The ids as an index tensor [batch, length] for <see cref="IBackend.GatherRows"/>.</summary>
    public Tensor UploadIndices(IBackend backend) => backend.UploadIndices(_values, new Shape(Batch, Length));

    /// <summary>The values as an fp32 tensor [batch, length] (an attention key mask).</summary>
    public Tensor UploadAsFloat(IBackend backend)
        => backend.Upload(Array.ConvertAll(_values, v => (float)v), new Shape(Batch, Length));
}
