using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Tiny;

/// <summary>Every tiny architecture writes a folder that loads back through the real loading path, tensor for tensor.</summary>
public class TinyModelsTests
{
    public static TheoryData<string> Architectures => new(TinyModels.All.Select(s => s.Arch));

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Written_folder_loads_back_with_no_missing_or_unused_tensors(string arch)
    {
        using var dir = new TempDirectory();
        TinyModels.Write(arch, dir.Path, seed: 5);
        var folder = ModelFolder.Open(dir.Path);
        Assert.Equal(TinyModels.Get(arch).PipelineClass, folder.PipelineClass);
        foreach (var spec in TinyModels.Get(arch).Components)
        {
            var loaded = ComponentLoader.Load(folder.Component(spec.Folder), new CpuBackend());
            Assert.Equal(spec.ClassName, loaded.Forward.ClassName);
            Assert.Empty(loaded.UnusedTensors);
        }
    }

    [Fact]
    public void Weights_are_deterministic_per_seed_and_differ_across_seeds()
    {
        var spec = TinyModels.Get("sd3").Components[0];
        var a = TinyModels.GenerateWeights(spec, 1).Tensors;
        var b = TinyModels.GenerateWeights(spec, 1).Tensors;
        var c = TinyModels.GenerateWeights(spec, 2).Tensors;
        Assert.Equal(a.Keys, b.Keys);
        foreach (var name in a.Keys) Assert.Equal(a[name].Values, b[name].Values);
        Assert.NotEqual(a["proj_out.weight"].Values, c["proj_out.weight"].Values);
    }

    [Fact]
    public void Bf16_variant_is_written_under_the_diffusers_variant_name()
    {
        using var dir = new TempDirectory();
        TinyModels.Write("sd3", dir.Path, storeAs: SafeTensorDType.BF16);
        string file = Path.Combine(dir.Path, "transformer", "diffusion_pytorch_model.bf16.safetensors");
        using var set = SafeTensorsSet.OpenFile(file);
        Assert.All(set.Tensors, t => Assert.Equal(SafeTensorDType.BF16, t.DType));
        var loaded = ComponentLoader.Load(ModelFolder.Open(dir.Path).Component("transformer"), new CpuBackend(), "bf16");
        Assert.Empty(loaded.UnusedTensors);
    }
}
