using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Pipelines;
using AccelAes.Engine.Tensors;
using static AccelAes.Engine.Tests.Models.TextEncoderTestModels;

namespace AccelAes.Engine.Tests.Models;

/// <summary>
/// SD3 / FLUX / Lumina embedding assembly on tiny random encoders, checked element by element against the
/// encoder outputs (an independent indexing of where each value must land).
/// </summary>
public class TextEncoderPromptConditioningTests
{
    private const int Batch = 2, ClipTokens = 7, T5Tokens = 5;

    private static (TextEncoderOutput L, TextEncoderOutput G, TextEncoderOutput T5) Sd3Encoders()
    {
        var clipL = new ClipTextModelWithProjection(RandomWeights(1), Clip() with { HiddenSize = 16, ProjectionDim = 6 });
        var clipG = new ClipTextModelWithProjection(RandomWeights(2),
            Clip(eosTokenId: 59, act: "gelu") with { HiddenSize = 12, NumAttentionHeads = 3, ProjectionDim = 10 });
        var t5 = new T5EncoderModel(RandomWeights(3), T5() with { DModel = 40 });
        var ids = RandomIds(Batch, ClipTokens, 60, 4);
        return (clipL.Forward(ids), clipG.Forward(ids), t5.Forward(RandomIds(Batch, T5Tokens, 50, 5)));
    }

    [Fact]
    public void Sd3_puts_clip_penultimate_states_side_by_side_zero_padded_before_t5()
    {
        var (l, g, t5) = Sd3Encoders();
        var result = PromptConditioning.Sd3(l, g, t5, jointAttentionDim: 40);
        Assert.Equal([Batch, ClipTokens + T5Tokens, 40], result.PromptEmbeds.Shape.ToArray());
        float[] got = Cpu.Download(result.PromptEmbeds);
        float[] lh = Cpu.Download(l.HiddenStates[^2]), gh = Cpu.Download(g.HiddenStates[^2]), th = Cpu.Download(t5.LastHiddenState);
        for (int b = 0; b < Batch; b++)
            for (int s = 0; s < ClipTokens + T5Tokens; s++)
                for (int f = 0; f < 40; f++)
                {
                    float expected = s >= ClipTokens ? th[(b * T5Tokens + s - ClipTokens) * 40 + f]
                        : f < 16 ? lh[(b * ClipTokens + s) * 16 + f]
                        : f < 28 ? gh[(b * ClipTokens + s) * 12 + f - 16]
                        : 0f;
                    Assert.Equal(expected, got[(b * (ClipTokens + T5Tokens) + s) * 40 + f]);
                }

        Assert.Equal([Batch, 16], result.PooledPromptEmbeds.Shape.ToArray());
        float[] pooled = Cpu.Download(result.PooledPromptEmbeds), le = Cpu.Download(l.TextEmbeds!), ge = Cpu.Download(g.TextEmbeds!);
        for (int b = 0; b < Batch; b++)
            for (int f = 0; f < 16; f++)
                Assert.Equal(f < 6 ? le[b * 6 + f] : ge[b * 10 + f - 6], pooled[b * 16 + f]);
    }

    [Fact]
    public void Sd3_without_t5_uses_zeros_of_max_sequence_length_by_joint_attention_dim()
    {
        var (l, g, _) = Sd3Encoders();
        var result = PromptConditioning.Sd3(l, g, t5: null, jointAttentionDim: 32, maxSequenceLength: 9);
        Assert.Equal([Batch, ClipTokens + 9, 32], result.PromptEmbeds.Shape.ToArray());
        float[] got = Cpu.Download(result.PromptEmbeds);
        for (int b = 0; b < Batch; b++)
            for (int s = ClipTokens; s < ClipTokens + 9; s++)
                for (int f = 0; f < 32; f++)
                    Assert.Equal(0f, got[(b * (ClipTokens + 9) + s) * 32 + f]);
    }

    [Fact]
    public void Sd3_crops_clip_features_when_t5_is_narrower_as_a_negative_pad_does()
    {
        var (l, g, _) = Sd3Encoders();
        var result = PromptConditioning.Sd3(l, g, t5: null, jointAttentionDim: 20, maxSequenceLength: 3);
        float[] got = Cpu.Download(result.PromptEmbeds);
        float[] gh = Cpu.Download(g.HiddenStates[^2]);
        // feature 19 is CLIP-G feature 3 of token 0
        Assert.Equal(gh[3], got[19]);
    }

    [Fact]
    public void Sd3_clip_skip_takes_an_earlier_hidden_state()
    {
        var (l, g, t5) = Sd3Encoders();
        var result = PromptConditioning.Sd3(l, g, t5, jointAttentionDim: 40, clipSkip: 1);
        float[] got = Cpu.Download(result.PromptEmbeds);
        Assert.Equal(Cpu.Download(l.HiddenStates[^3])[0], got[0]);
    }

    [Fact]
    public void Sd3_refuses_a_clip_without_projection()
    {
        var (l, g, t5) = Sd3Encoders();
        var ex = Assert.Throws<AccelAesException>(() => PromptConditioning.Sd3(l with { TextEmbeds = null }, g, t5, 40));
        Assert.Contains("CLIPTextModelWithProjection", ex.Message);
    }

    [Fact]
    public void Flux_takes_t5_states_and_the_clip_pooler_output()
    {
        var clip = new ClipTextModel(RandomWeights(6), Clip()).Forward(RandomIds(Batch, ClipTokens, 60, 7));
        var t5 = new T5EncoderModel(RandomWeights(8), T5()).Forward(RandomIds(Batch, T5Tokens, 50, 9));
        var result = PromptConditioning.Flux(clip, t5);
        Assert.Equal(Cpu.Download(t5.LastHiddenState), Cpu.Download(result.PromptEmbeds));
        Assert.Equal(Cpu.Download(clip.PoolerOutput!), Cpu.Download(result.PooledPromptEmbeds));
        Assert.Equal([T5Tokens, 3], result.TextIds.Shape.ToArray());
        Assert.All(Cpu.Download(result.TextIds), v => Assert.Equal(0f, v));

        var projected = new ClipTextModelWithProjection(RandomWeights(6), Clip()).Forward(RandomIds(Batch, ClipTokens, 60, 7));
        Assert.Contains("pooler_output", Assert.Throws<AccelAesException>(() => PromptConditioning.Flux(projected, t5)).Message);
    }

    [Fact]
    public void Lumina_takes_gemma_penultimate_states_and_the_tokenizer_mask()
    {
        var gemma = new GemmaModel(RandomWeights(10), Gemma());
        var ids = RandomIds(Batch, 8, 70, 11);
        var mask = Mask([1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0, 0, 0]);
        var output = gemma.Forward(ids, mask);
        var result = PromptConditioning.Lumina(output, mask);
        Assert.Equal(Cpu.Download(output.HiddenStates[^2]), Cpu.Download(result.PromptEmbeds));
        Assert.Equal(Array.ConvertAll(mask.Values.ToArray(), v => (float)v), Cpu.Download(result.PromptAttentionMask));
        Assert.Equal(Cpu.Download(result.PromptEmbeds),
            Cpu.Download(PromptConditioning.Lumina(gemma.HiddenState(ids, mask, -2), mask).PromptEmbeds));
    }

    [Fact]
    public void Images_per_prompt_repeat_rows_in_place_and_the_diffusers_mask_tiling_is_available()
    {
        var x = Cpu.Upload([0, 1, 10, 11], new Shape(2, 2));
        Assert.Equal([0, 1, 0, 1, 0, 1, 10, 11, 10, 11, 10, 11], Cpu.Download(PromptConditioning.RepeatPerPrompt(x, 3)));
        Assert.Equal([0, 1, 10, 11, 0, 1, 10, 11], Cpu.Download(PromptConditioning.TileBatch(x, 2)));

        var embeds = Cpu.Upload([1, 2], new Shape(2, 1, 1));
        var mask = Mask([1], [0]);
        var own = PromptConditioning.Lumina(embeds, mask, numImagesPerPrompt: 2);
        Assert.Equal([1, 1, 2, 2], Cpu.Download(own.PromptEmbeds));
        Assert.Equal([1, 1, 0, 0], Cpu.Download(own.PromptAttentionMask));
        var diffusers = PromptConditioning.Lumina(embeds, mask, numImagesPerPrompt: 2, tileMaskLikeDiffusers: true);
        Assert.Equal([1, 0, 1, 0], Cpu.Download(diffusers.PromptAttentionMask));
    }
}
