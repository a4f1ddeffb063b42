using AccelAes.Engine.Acceleration;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Acceleration;

/// <summary>
/// The FFN row pattern every block uses (<see cref="SparseRows.FeedForward"/>) under both <c>sparse_ffn</c> settings:
/// on, a sparse step computes the focus rows and takes the background rows from the fill step's cache; off
/// (attention-only sparsity, paper Table 7), every row is computed from its current input and nothing is cached.
/// </summary>
public class SparseFeedForwardRowsTests
{
    private const int Batch = 2, Tokens = 6, Width = 3;
    private static readonly int[] Focus = [4, 1];

    private readonly CpuBackend _cpu = new();

    private Tensor Rows(int seed) => _cpu.Upload(TestData.Random(Batch * Tokens * Width, seed), new Shape(Batch, Tokens, Width));

    /// <summary>A row-wise stand-in for an FFN that records how many rows per batch item it was given.</summary>
    private sealed class RecordingFeedForward(IBackend backend)
    {
        public List<int> RowCounts { get; } = [];

        public Tensor Forward(Tensor x)
        {
            RowCounts.Add(x.Shape[1]);
            return backend.Activate(x, Activation.Silu);
        }
    }

    private float[] Dense(Tensor x) => _cpu.Download(_cpu.Activate(x, Activation.Silu));

    private static void Begin(SparseForward sparse, StepKind kind)
    {
        sparse.BeginStep(kind, null);
        sparse.BeginForward(0, 0);
    }

    [Fact]
    public void Off_computes_every_row_from_its_current_input_and_keeps_no_cache()
    {
        var sparse = new SparseForward(sparseFeedForward: false);
        sparse.SetFocus(Focus, Tokens);
        var ffn = new RecordingFeedForward(_cpu);
        Tensor fillInput = Rows(1), sparseInput = Rows(2);

        Begin(sparse, StepKind.FullFillCache);
        Assert.Equal(Dense(fillInput), _cpu.Download(SparseRows.FeedForward(sparse, 0, "ffn", fillInput, ffn.Forward)));
        Assert.Equal(0, sparse.CacheBytes);

        Begin(sparse, StepKind.Sparse);
        // Background rows included: the output is the dense FFN of the sparse step's own input.
        Assert.Equal(Dense(sparseInput), _cpu.Download(SparseRows.FeedForward(sparse, 0, "ffn", sparseInput, ffn.Forward)));
        Assert.Equal([Tokens, Tokens], ffn.RowCounts);
        Assert.Equal(0, sparse.CacheBytes);
        Assert.Throws<InvalidOperationException>(() => sparse.Cached(0, "ffn"));
    }

    [Fact]
    public void On_computes_the_focus_rows_and_keeps_the_fill_steps_background_rows()
    {
        var sparse = new SparseForward();
        Assert.True(sparse.SparseFeedForward);
        sparse.SetFocus(Focus, Tokens);
        var ffn = new RecordingFeedForward(_cpu);
        Tensor fillInput = Rows(1), sparseInput = Rows(2);

        Begin(sparse, StepKind.FullFillCache);
        SparseRows.FeedForward(sparse, 0, "ffn", fillInput, ffn.Forward);
        Assert.Equal((long)Batch * Tokens * Width * sizeof(float), sparse.CacheBytes);

        Begin(sparse, StepKind.Sparse);
        float[] output = _cpu.Download(SparseRows.FeedForward(sparse, 0, "ffn", sparseInput, ffn.Forward));
        Assert.Equal([Tokens, Focus.Length], ffn.RowCounts);
        float[] stale = Dense(fillInput), fresh = Dense(sparseInput);
        for (int b = 0; b < Batch; b++)
            for (int t = 0; t < Tokens; t++)
            {
                float[] expected = Focus.Contains(t) ? fresh : stale;
                int at = (b * Tokens + t) * Width;
                Assert.Equal(expected.AsSpan(at, Width).ToArray(), output.AsSpan(at, Width).ToArray());
            }
    }
}
