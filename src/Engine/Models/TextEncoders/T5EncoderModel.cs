using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.Diffusers.Configs;

namespace AccelAes.Engine.Models.TextEncoders;

/// <summary>
/// transformers <c>T5EncoderModel</c>: <c>shared</c> embeddings and the encoder stack; returns
/// <c>last_hidden_state</c> and <c>hidden_states</c>. SD3's <c>text_encoder_3</c>, FLUX's <c>text_encoder_2</c>.
/// </summary>
public sealed class T5EncoderModel
{
    public T5EncoderModel(WeightReader w, T5Config config)
    {
        // encoder.embed_tokens is tied to shared; save_pretrained keeps one name (usually shared.weight), and
        // either may be the one a checkpoint holds.
        string embeddingName = w.Has("shared.weight") || !w.Has("encoder.embed_tokens.weight") ? "shared.weight" : "encoder.embed_tokens.weight";
        Tensor shared = w.Get(embeddingName, config.VocabSize, config.DModel);
        Encoder = new T5Stack(w.Scope("encoder"), config, shared);
    }

    public T5Stack Encoder { get; }

    public T5Config Config => Encoder.Config;

    /// <summary>The full forward; SD3 and FLUX pass no <paramref name="attentionMask"/>.</summary>
    public TextEncoderOutput Forward(TokenGrid inputIds, TokenGrid? attentionMask = null)
    {
        List<Tensor> hiddenStates = Encoder.Forward(inputIds, attentionMask, Config.NumLayers);
        return new TextEncoderOutput(hiddenStates[^1], hiddenStates);
    }

    /// <summary><c>hidden_states[index]</c> (Python indexing), running only the blocks it depends on.</summary>
    public Tensor HiddenState(TokenGrid inputIds, TokenGrid? attentionMask, int index)
    {
        int resolved = HiddenStateIndex.Resolve(index, Config.NumLayers + 1);
        return Encoder.Forward(inputIds, attentionMask, resolved)[resolved];
    }
}
