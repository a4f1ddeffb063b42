using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>CLIPEncoder</c>: the layer stack. Its <c>hidden_states</c> are the input and every layer's
/// output, <c>[embeddings, out(layer 0), …, out(layer N−1)]</c>, none of them normalised.
/// </summary>
public sealed class ClipEncoder
{
    private readonly ClipEncoderLayer[] _layers;

    public ClipEncoder(WeightReader w, IClipEncoderConfig config)
    {
        _layers = new ClipEncoderLayer[config.NumHiddenLayers];
        for (int i = 0; i < _layers.Length; i++)
            _layers[i] = new ClipEncoderLayer(w.Scope($"layers.{i}"), config);
    }

    public int NumLayers => _layers.Length;

    /// <summary>Runs the first <paramref name="layers"/> layers; returns the hidden states, input first.</summary>
    public List<Tensor> Forward(Tensor inputsEmbeds, AttentionMaskArgs mask, int layers)
    {
        var hiddenStates = new List<Tensor>(layers + 1) { inputsEmbeds };
        Tensor x = inputsEmbeds;
        for (int i = 0; i < layers; i++)
        {
            x = _layers[i].Forward(x, mask);
            hiddenStates.Add(x);
        }
        return hiddenStates;
    }
}
