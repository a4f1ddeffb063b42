using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Pipelines;

/// <summary>Which <see cref="Backbone"/> a diffusers pipeline class runs: the one mapping the CLI, the C ABI and the pipelines share.</summary>
public static class PipelineBackbones
{
    /// <summary>The backbone of <paramref name="pipelineClass"/> (model_index.json's <c>_class_name</c>), or null for a class AccelAes does not accelerate.</summary>
    public static Backbone? Of(string pipelineClass) => pipelineClass switch
    {
        "StableDiffusion3Pipeline" => Backbone.Sd3,
        "FluxPipeline" => Backbone.Flux,
        _ when LuminaPipeline.PipelineClassNames.Contains(pipelineClass) => Backbone.Lumina,
        _ => null,
    };
}
