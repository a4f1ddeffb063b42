using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Pipelines;

/// <summary>
/// Checks shared by the pipelines that run classifier-free guidance over a pair of (prompt, pooled) embeddings
/// (SD3's CFG, FLUX's true CFG): both negatives are present and shaped like the positives. Returns them non-null.
/// </summary>
internal static class NegativeConditioning
{
    /// <param name="why">What needs the negatives, for the message ("Guidance scale 7", "true_cfg_scale 4").</param>
    /// <param name="offSwitch">How to sample without them ("set the guidance to 1").</param>
    public static (Tensor Embeds, Tensor Pooled) Require(string why, string offSwitch, Tensor promptEmbeds, Tensor pooledPromptEmbeds,
        Tensor? negativePromptEmbeds, Tensor? negativePooledPromptEmbeds)
    {
        if (negativePromptEmbeds is null || negativePooledPromptEmbeds is null)
            throw new AccelAesException($"{why} needs negative_prompt_embeds and negative_pooled_prompt_embeds ({offSwitch} to sample without them).");
        if (negativePromptEmbeds.Shape != promptEmbeds.Shape)
            throw new AccelAesException($"negative_prompt_embeds {negativePromptEmbeds.Shape} must have the shape of prompt_embeds {promptEmbeds.Shape}.");
        if (negativePooledPromptEmbeds.Shape != pooledPromptEmbeds.Shape)
            throw new AccelAesException(
                $"negative_pooled_prompt_embeds {negativePooledPromptEmbeds.Shape} must have the shape of pooled_prompt_embeds {pooledPromptEmbeds.Shape}.");
        return (negativePromptEmbeds, negativePooledPromptEmbeds);
    }
}
