using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;
using AccelAes.Loader.OpenClip;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.WeightSources;

/// <summary>
/// An open_clip checkpoint (the tiny CLIPModel golden rewritten in open_clip's layout, as HPSv2 ships ViT-H-14) loads
/// onto a backend under transformers' names exactly as the transformers checkpoint itself does.
/// </summary>
public sealed class OpenClipWeightSourceTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly CpuBackend _cpu = new();

    public void Dispose()
    {
        _cpu.Dispose();
        _dir.Dispose();
    }

    [GoldenFact]
    public void Every_tensor_loads_as_the_transformers_checkpoint_loads_it()
    {
        using var hf = SafeTensorsSet.OpenFile(GoldenFiles.At("clip_vision_tiny", "clip_model", "model.safetensors"));
        using var clip = OpenClipCheckpoint.Open(OpenClipFiles.WriteFromTransformers(hf, _dir.File("open_clip.pt")),
            new OpenClipConfigOverrides(TextHeads: 2, VisionHeads: 2));
        var reference = new SafeTensorsWeightSource(hf, hf.Source);
        var source = new OpenClipWeightSource(clip);

        Assert.Equal(reference.Names.Order(), source.Names.Order());
        foreach (var tensor in hf.Tensors)
        {
            var shape = new Shape(tensor.Shape.Select(d => (int)d).ToArray());
            Assert.Equal(_cpu.Download(reference.Load(tensor.Name, shape, _cpu)), _cpu.Download(source.Load(tensor.Name, shape, _cpu)));
        }
        var wrong = Assert.Throws<WeightShapeException>(() => source.Load("visual_projection.weight", new Shape(32, 16), _cpu));
        Assert.Contains("visual_projection.weight", wrong.Message);
    }
}
