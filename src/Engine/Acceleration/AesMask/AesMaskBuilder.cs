namespace AccelAes.Engine.Acceleration.AesMask;

/// <summary>
/// AesMask for one run, tying the pieces together for the model integration: which layers capture, the heat-map
/// accumulator they feed during the capture step's forward (cond branch only), and the finalisation into a
/// <see cref="FocusMask"/>.
/// </summary>
/// <remarks>
/// Use: compute the token importance before sampling (<see cref="TokenImportance"/>; on MMDiT backbones one vector
/// over all text key columns — for SD3 the CLIP part and the T5 part, each from its own tokens, concatenated;
/// zero on padding); create the builder at the capture step; in each capture layer's attention call one of the
/// accumulator's Add methods; after the forward call <see cref="Build"/>.
/// </remarks>
public sealed class AesMaskBuilder
{
    private readonly HashSet<int> _layers;

    /// <param name="options">The run's options (mask settings, capture layers).</param>
    /// <param name="layerCount">Capturable layers of the model (Lumina 24, SD3 joint blocks, FLUX double-stream blocks).</param>
    /// <param name="gridHeight">Token grid rows (latent height / patch size).</param>
    /// <param name="gridWidth">Token grid columns.</param>
    /// <param name="textWeights">The token importance, one weight per text key column.</param>
    public AesMaskBuilder(AccelerationOptions options, int layerCount, int gridHeight, int gridWidth, ReadOnlySpan<float> textWeights)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options.Validated();
        if (!options.UsesMask) throw new AccelAesException("mask_step: AesMask is off for these options (no mask step).");
        if (gridHeight < 1 || gridWidth < 1) throw new ArgumentException($"Token grid {gridHeight} × {gridWidth} must have positive sides.");
        CaptureLayers = options.ResolveCaptureLayers(layerCount);
        _layers = [.. CaptureLayers];
        GridHeight = gridHeight;
        GridWidth = gridWidth;
        Accumulator = new HeatMapAccumulator(gridHeight * gridWidth, textWeights);
    }

    public AccelerationOptions Options { get; }

    /// <summary>The layers that capture, ascending.</summary>
    public int[] CaptureLayers { get; }

    public int GridHeight { get; }

    public int GridWidth { get; }

    /// <summary>Where capture layers add their attention.</summary>
    public HeatMapAccumulator Accumulator { get; }

    /// <summary>True when layer <paramref name="layer"/> captures.</summary>
    public bool Captures(int layer) => _layers.Contains(layer);

    /// <summary>Finalises the heat map into the mask.</summary>
    /// <exception cref="InvalidOperationException">Not every capture layer added its attention.</exception>
    public FocusMask Build()
    {
        if (!Accumulator.AddedLayers.SequenceEqual(CaptureLayers))
            throw new InvalidOperationException(
                $"AesMask expected capture layers {string.Join(",", CaptureLayers)} but got {(Accumulator.Layers == 0 ? "none" : string.Join(",", Accumulator.AddedLayers))}.");
        return MaskFinalisation.Finalise(Accumulator.Result(), GridHeight, GridWidth, Options.MaskFinalisation);
    }
}
