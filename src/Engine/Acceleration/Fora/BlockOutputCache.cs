using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Fora;

/// <summary>
/// The per-block feature cache of FORA and TaylorSeer: on a computing step each block stores its attention and MLP
/// outputs (before their gates); on a reusing step each block adds, through this step's gates, what the cache gives
/// back instead of running attention and MLP. Keyed by block index and output name.
/// FORA (<see cref="MaxOrder"/> 0) gives the stored output back unchanged. TaylorSeer (order ≥ 1) keeps, per output,
/// the Taylor factors of TaylorSeer's <c>derivative_approximation</c> — f₀ = the feature, fᵢ₊₁ = (fᵢ − fᵢ_prev) / Δ with
/// Δ the distance in steps between the last two computed steps — and gives back <c>taylor_formula</c>'s
/// Σᵢ fᵢ·xⁱ / i!, x = steps since the last computed step (Shenyi-Z/TaylorSeer TaylorSeer-FLUX/src/flux/taylor_utils/__init__.py
/// at commit 288776dfd0cbb6e201c654c31cd22139f848a6cf).
/// </summary>
public sealed class BlockOutputCache
{
    private readonly Dictionary<(int Layer, string Name), Tensor[]> _factors = [];
    private int _step = -1, _lastComputed = -1, _computedBefore = -1;

    /// <param name="maxOrder">0: reuse (FORA); n: forecast with derivatives up to order n (TaylorSeer's <c>max_order</c>).</param>
    /// <param name="derivativesFromStep">Derivatives are taken only on computed steps after this one (the official
    /// <c>step &gt; first_enhance − 2</c>); earlier computed steps restart the factors from the feature alone.</param>
    public BlockOutputCache(int maxOrder = 0, int derivativesFromStep = -1)
    {
        if (maxOrder < 0) throw new ArgumentOutOfRangeException(nameof(maxOrder), maxOrder, "an order is ≥ 0");
        MaxOrder = maxOrder;
        DerivativesFromStep = derivativesFromStep;
    }

    public int MaxOrder { get; }

    public int DerivativesFromStep { get; }

    /// <summary>True on a step that reuses (or forecasts) the stored outputs; false on one that computes and stores them.</summary>
    public bool Reusing { get; private set; }

    /// <summary>Bytes of every stored factor (fp32 on the host's count).</summary>
    public long Bytes => _factors.Values.Sum(f => f.Sum(t => 4L * t.Shape.ElementCount));

    /// <summary>Starts step <paramref name="step"/> (steps in order): computing (store) or reusing (read).</summary>
    public void BeginStep(int step, bool compute)
    {
        if (step != _step + 1) throw new InvalidOperationException($"Block caches run steps in order: expected step {_step + 1}, got {step}.");
        if (!compute && _lastComputed < 0)
            throw new InvalidOperationException("A block cache cannot reuse outputs before a step has computed them.");
        _step = step;
        Reusing = !compute;
        if (compute)
        {
            _computedBefore = _lastComputed;
            _lastComputed = step;
        }
    }

    public void Store(int layer, string name, Tensor output)
    {
        if (Reusing) throw new InvalidOperationException($"Block {layer} stored '{name}' on a reusing step.");
        var factors = new List<Tensor> { output };
        if (MaxOrder > 0 && _step > DerivativesFromStep && _factors.TryGetValue((layer, name), out Tensor[]? previous))
        {
            IBackend be = output.Backend;
            float inverseDistance = 1f / (_lastComputed - _computedBefore);
            for (int i = 0; i < MaxOrder && i < previous.Length; i++)
                factors.Add(be.Scale(be.Add(factors[i], be.Scale(previous[i], -1f)), inverseDistance));
        }
        _factors[(layer, name)] = [.. factors];
    }

    public Tensor Get(int layer, string name)
    {
        if (!_factors.TryGetValue((layer, name), out Tensor[]? factors))
            throw new InvalidOperationException($"No cached '{name}' output for block {layer}.");
        Tensor value = factors[0];
        int x = _step - _lastComputed;
        double factorial = 1;
        for (int i = 1; i < factors.Length; i++)
        {
            factorial *= i;
            value = value.Backend.Add(value, value.Backend.Scale(factors[i], (float)(Math.Pow(x, i) / factorial)));
        }
        return value;
    }
}
