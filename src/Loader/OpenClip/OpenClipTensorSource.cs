namespace AccelAes.Loader.OpenClip;

/// <summary>How a transformers CLIP tensor is obtained from its open_clip tensor.</summary>
public enum OpenClipTransform
{
    /// <summary>The same tensor under another name.</summary>
    Rename,
    /// <summary>
    /// One third of a fused attention input projection: rows [<see cref="OpenClipTensorSource.RowStart"/>,
    /// + rows) of <c>attn.in_proj_weight</c> / <c>in_proj_bias</c> (q, then k, then v, as <c>chunk(3, dim=0)</c> splits it).
    /// Rows of a row-major tensor are one byte range, so this is a view, not a copy.
    /// </summary>
    RowSlice,
    /// <summary>
    /// The transpose of a 2-D tensor: open_clip keeps the projections as <c>x @ proj</c> matrices [width, embed],
    /// transformers as <c>nn.Linear</c> weights [embed, width]. Materialised once.
    /// </summary>
    Transpose,
}

/// <summary>Where one transformers CLIP tensor comes from in an open_clip state dict.</summary>
/// <param name="SourceName">The open_clip key, e.g. <c>visual.transformer.resblocks.3.attn.in_proj_weight</c>.</param>
/// <param name="Transform">How the source becomes the target.</param>
/// <param name="Shape">The target's shape, in transformers' layout.</param>
/// <param name="RowStart">First source row, for <see cref="OpenClipTransform.RowSlice"/>.</param>
public sealed record OpenClipTensorSource(string SourceName, OpenClipTransform Transform, long[] Shape, long RowStart = 0);
