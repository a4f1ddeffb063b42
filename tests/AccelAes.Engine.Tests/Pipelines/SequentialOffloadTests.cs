using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Planning;
using AccelAes.Engine.Weights;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Engine.Tests.Generation;

/// <summary>
/// The sequential residency policy where the CPU backend runs it (no device to stream to: the blocks load as usual, the
/// text encoders swap as under encoders, the arithmetic is the all-resident run's, so images are equal to the bit), the
/// plan-before-loading decision choosing it when only it fits, and the block split the runtime streams agreeing with the
/// one the plan counts. The CUDA streaming itself is tested on the device (CudaSequentialOffloadTests, OffloadCudaCliTests).
/// </summary>
public class SequentialOffloadTests(TinyPipelineFolders tiny) : IClassFixture<TinyPipelineFolders>
{
    public static TheoryData<string> Architectures => new(TinyPipelineFolders.Architectures);

    private static GenerationRequest Request(ulong seed = 7) => new() { Prompt = "a photo of a cat", Seed = seed, Steps = 2, Width = 32, Height = 48 };

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Each_generation_under_sequential_swaps_the_encoders_out_and_equals_the_all_resident_image(string arch)
    {
        var sequential = TextToImage.Open(tiny.Path(arch), tiny.Cpu, residency: ResidencyPolicy.Sequential);
        var resident = tiny.Open(arch);
        foreach (ulong seed in new ulong[] { 7, 8 }) // the second generation reloads what the first freed
        {
            GenerationResult expected = resident.Generate(Request(seed)), actual = sequential.Generate(Request(seed));
            Assert.Equal(expected.Image.Pixels, actual.Image.Pixels);
            string[] phases = [.. actual.Timings.Select(t => t.Phase)];
            Assert.True(Array.IndexOf(phases, "load text encoders") < Array.IndexOf(phases, "encode")
                        && Array.IndexOf(phases, "encode") < Array.IndexOf(phases, "load transformer and vae")
                        && Array.IndexOf(phases, "load transformer and vae") < Array.IndexOf(phases, "denoise"),
                $"phases {string.Join(", ", phases)}");
        }
    }

    [Fact]
    public void Sequential_asked_for_runs_and_auto_chooses_it_when_only_it_fits()
    {
        string folder = tiny.Path("sd3");
        var asked = GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, ResidencyPolicy.Sequential, memoryBytes: null);
        Assert.Equal(ResidencyPolicy.Sequential, asked.Policy);
        Assert.Contains("residency sequential (--offload)", asked.Note);

        var plan = MemoryPlanner.Plan(GenerationResidency.PlanRequest(folder, null, Request(), ByteSize.MaxBytes));
        long encoders = plan.Policies.Single(p => p.Policy == ResidencyPolicy.Encoders).PeakBytes;
        long sequential = plan.Policies.Single(p => p.Policy == ResidencyPolicy.Sequential).PeakBytes;
        Assert.True(sequential < encoders, $"sequential peak {sequential} B, encoders {encoders} B"); // the tiny SD3's denoise phase decides
        var auto = GenerationResidency.Decide(folder, null, Request(), tiny.Cpu, requested: null, memoryBytes: sequential);
        Assert.Equal(ResidencyPolicy.Sequential, auto.Policy);
        Assert.Contains("chosen by the memory plan", auto.Note);
        Assert.True(MemoryPlanner.Plan(GenerationResidency.PlanRequest(folder, null, Request(), sequential)).Policy.RuntimeSupports());
    }

    /// <summary>What the runtime streams as one block (<see cref="StreamedBlockWeightSource.BlockOf"/>) is what the plan counts as one.</summary>
    [Theory]
    [InlineData("sd3")]
    [InlineData("flux")]
    [InlineData("lumina-next")]
    public void The_runtime_streams_the_blocks_the_plan_counts(string arch)
    {
        string folder = tiny.Path(arch);
        var planned = FolderComponents.Of(folder, 77).Single(c => c.Role == ComponentRole.Transformer).Blocks!;
        using var set = SafeTensorsSet.OpenComponent(System.IO.Path.Combine(folder, "transformer"), "diffusion_pytorch_model", null);
        var streamed = set.Tensors.Where(t => StreamedBlockWeightSource.BlockOf(t.Name) is not null)
            .GroupBy(t => StreamedBlockWeightSource.BlockOf(t.Name)!).ToList();
        Assert.Equal(planned.Blocks.Count, streamed.Count);
        Assert.Equal(planned.Blocks.Sum(b => b.StoredBytes), streamed.Sum(g => g.Sum(t => t.ByteLength)));
        Assert.Equal(planned.Rest.StoredBytes, set.Tensors.Where(t => StreamedBlockWeightSource.BlockOf(t.Name) is null).Sum(t => t.ByteLength));
    }

    /// <summary>
    /// A single-file FLUX transformer (BFL layout) converts to the names the stream splits on: its double and single
    /// blocks are the streamed blocks, one each, and nothing else is (ComponentLoader.LoadSingleFile passes the stream
    /// through; CudaSingleFileSequentialOffloadTests shows the blocks streamed on the device).
    /// </summary>
    [Fact]
    public void A_single_file_transformer_converts_to_the_block_names_the_stream_splits_on()
    {
        using var dir = new TempDirectory();
        var file = new BflFluxFile { Width = 128, HeadDim = 128, DoubleBlocks = 2, SingleBlocks = 3 };
        using var checkpoint = Loader.SingleFile.SingleFileCheckpoint.Open(file.Save(dir.File("flux.safetensors")));
        var source = new SingleFileWeightSource(checkpoint);
        var blocks = source.Names.Select(StreamedBlockWeightSource.BlockOf).OfType<string>().Distinct().Order().ToList();
        Assert.Equal(
            ["single_transformer_blocks.0", "single_transformer_blocks.1", "single_transformer_blocks.2", "transformer_blocks.0", "transformer_blocks.1"],
            blocks);
        Assert.Contains(source.Names, n => StreamedBlockWeightSource.BlockOf(n) is null); // embedders and the final layer stay resident
    }

    [Theory]
    [InlineData("transformer_blocks.3.attn.to_q.weight", "transformer_blocks.3")]
    [InlineData("single_transformer_blocks.37.proj_out.bias", "single_transformer_blocks.37")]
    [InlineData("layers.0.feed_forward.linear_1.weight", "layers.0")]
    [InlineData("x_embedder.weight", null)]
    [InlineData("norm_out.linear.weight", null)]
    [InlineData("time_text_embed.timestep_embedder.linear_1.weight", null)]
    public void Block_names_are_the_block_lists_of_the_three_backbones(string tensor, string? block)
        => Assert.Equal(block, StreamedBlockWeightSource.BlockOf(tensor));
}
