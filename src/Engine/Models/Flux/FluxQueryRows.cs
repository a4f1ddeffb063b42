using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Models.Flux;

/// <summary>
/// The query rows of a SkipSparse forward on FLUX, built once per forward (its index lists once per focus set) and shared by every block: all text
/// tokens, then the focus image tokens, in that order ([text, image focus], the order of FLUX's joint sequence
/// with the background image rows left out). Holds the rotary table of those rows (the full table's rows gathered,
/// so a query keeps the rotation of its own position) and, for the single-stream blocks, their row indices in the
/// joined [B·(L + N), D] sequence.
/// </summary>
public sealed class FluxQueryRows
{
    private FluxQueryRows(int textTokens, int imageTokens, int focusCount, FluxRotaryTable rope, Tensor jointRows)
    {
        TextTokens = textTokens;
        ImageTokens = imageTokens;
        FocusCount = focusCount;
        Rope = rope;
        JointRows = jointRows;
    }

    public int TextTokens { get; }

    public int ImageTokens { get; }

    public int FocusCount { get; }

    /// <summary>Query rows per batch item: L + nF.</summary>
    public int Count => TextTokens + FocusCount;

    /// <summary>cos, sin [L + nF, pairs]: rows 0…L−1 of the full table, then rows L + f for each focus token f.</summary>
    public FluxRotaryTable Rope { get; }

    /// <summary>I32 [B·(L + nF)]: b·(L + N) + t for the text tokens t, then b·(L + N) + L + f for the focus tokens f.</summary>
    public Tensor JointRows { get; }

    /// <param name="sparse">A sparse forward's state (its focus set is over <paramref name="imageTokens"/> tokens).</param>
    /// <param name="rope">The forward's full rotary table over the L + N joined tokens.</param>
    public static FluxQueryRows Create(IBackend backend, SparseForward sparse, FluxRotaryTable rope, int batch, int textTokens, int imageTokens)
    {
        IReadOnlyList<int> focus = sparse.FocusTokens ?? throw new InvalidOperationException("A sparse FLUX forward needs a focus set.");
        if (sparse.ImageTokens != imageTokens)
            throw new InvalidOperationException($"SkipSparse: the focus set is over {sparse.ImageTokens} image tokens, the FLUX forward has {imageTokens}.");
        int rows = textTokens + focus.Count, joint = textTokens + imageTokens;
        int[] Positions()
        {
            var positions = new int[rows];
            for (int t = 0; t < textTokens; t++) positions[t] = t;
            for (int i = 0; i < focus.Count; i++) positions[textTokens + i] = textTokens + focus[i];
            return positions;
        }
        int[] JointRowsOf()
        {
            int[] positions = Positions();
            var jointRows = new int[batch * rows];
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < rows; i++) jointRows[b * rows + i] = b * joint + positions[i];
            return jointRows;
        }
        // Uploaded once per focus set (the sparse forward keeps them), so a sparse step can be captured as a graph;
        // the rotary rows are gathered on the device every forward, which a graph replays.
        Tensor positionIndices = sparse.DerivedIndices(backend, $"flux.positions L={textTokens}", Positions);
        Tensor jointIndices = sparse.DerivedIndices(backend, $"flux.joint B={batch} L={textTokens} N={imageTokens}", JointRowsOf);
        var queryRope = new FluxRotaryTable(backend.GatherRows(rope.Cos, positionIndices), backend.GatherRows(rope.Sin, positionIndices));
        return new FluxQueryRows(textTokens, imageTokens, focus.Count, queryRope, jointIndices);
    }
}
