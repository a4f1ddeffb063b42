using AccelAes.Loader.Diffusers;
using AccelAes.Loader.SafeTensors;
using AccelAes.Loader.SingleFile;

namespace AccelAes.Engine.Planning;

/// <summary>
/// The plan's weights of a component inside a single-file checkpoint, from the file's header: each mapped view's
/// elements at its file tensors' stored width (a generated identity — SD3's CLIP-L projection — at fp32), counted
/// under diffusers' names so the transformer's per-block split and the VAE's decoder-only rule apply as for folders.
/// </summary>
internal static class SingleFileComponents
{
    public static PlannedComponent Read(ComponentFolder component, string name, ComponentRole role)
    {
        var file = component.SingleFile!;
        using var checkpoint = SingleFileCheckpoint.OpenFor(file);
        var part = checkpoint.Parts[file.Component];
        var total = new WeightTally();
        var rest = new WeightTally();
        var blocks = new SortedDictionary<(int Group, int Index), WeightTally>();
        foreach (var (tensorName, view) in part.Tensors)
        {
            if (role == ComponentRole.Vae && !FolderComponents.IsDecoderTensor(tensorName)) continue;
            long bytes = view.IsIdentity ? view.ElementCount * 4 : view.Parts.Sum(p => p.ElementCount * p.Source.DType.ByteSize());
            long? rows = Weights.LinearWeightNames.IsLinearWeight(tensorName, view.Shape.Length) ? view.Shape[0] : null;
            total.AddStored(view.ElementCount, bytes, rows);
            if (role != ComponentRole.Transformer) continue;
            WeightTally tally = rest;
            if (FolderComponents.BlockOf(tensorName) is { } key && !blocks.TryGetValue(key, out tally!)) blocks[key] = tally = new WeightTally();
            tally.AddStored(view.ElementCount, bytes, rows);
        }
        TransformerWeights? split = role == ComponentRole.Transformer ? new TransformerWeights(blocks.Values.ToList(), rest) : null;
        return new PlannedComponent(name, component.ClassName, role, total, $"safetensors header of {checkpoint.Source} ({file.Component})", split);
    }
}
