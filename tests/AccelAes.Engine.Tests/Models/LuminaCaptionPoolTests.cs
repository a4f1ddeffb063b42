using AccelAes.Engine.Backends;
using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Models.Lumina;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// Lumina's masked caption mean at real widths: Gemma-2B's 2048 features must not reach the attention op as one
/// 2048-wide head (the CUDA backend's limit is 256), and the mean must stay exact.
/// </summary>
public class LuminaCaptionPoolTests
{
    [Theory]
    [InlineData(2048, 16)]
    [InlineData(300, 3)]
    [InlineData(64, 1)]
    [InlineData(257, 257)]
    public void TheMaskedMean_IsExact_AndSplitIntoNarrowHeads(int dim, int expectedHeads)
    {
        Assert.Equal(expectedHeads, LuminaCombinedTimestepCaptionEmbedding.PoolHeads(dim));
        using var recorder = new AttentionShapes(new CpuBackend());
        const int batch = 2, length = 5;
        var rng = new Random(dim);
        var x = Enumerable.Range(0, batch * length * dim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] mask = [1, 1, 0, 1, 0, 0, 1, 1, 1, 1];
        var pooled = recorder.Download(LuminaCombinedTimestepCaptionEmbedding.MaskedMean(
            recorder.Upload(x, new Shape(batch, length, dim)), recorder.Upload(mask, new Shape(batch, length))));

        Assert.All(recorder.ValueWidths, w => Assert.True(w <= 256, $"value head width {w}"));
        for (int b = 0; b < batch; b++)
            for (int d = 0; d < dim; d += 37)
            {
                double sum = 0, count = 0;
                for (int l = 0; l < length; l++)
                    if (mask[b * length + l] != 0) { sum += x[(b * length + l) * dim + d]; count++; }
                Assert.Equal(sum / count, pooled[b * dim + d], 5);
            }
    }

    /// <summary>Records the value head width of every attention call.</summary>
    private sealed class AttentionShapes(IBackend inner) : DelegatingBackend(inner, ownsInner: true)
    {
        public List<int> ValueWidths { get; } = [];

        protected override void BeforeMatmul(string op, Shape a, Shape b, Shape? c)
        {
            if (c is Shape v) ValueWidths.Add(v[3]);
        }
    }
}
