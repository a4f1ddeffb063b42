using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models;
using AccelAes.Engine.Models.Flux;
using AccelAes.Engine.Tensors;
using AccelAes.Engine.Weights;

namespace AccelAes.Engine.Tests.Models;

/// <summary>Properties of the FLUX transformer that hold for any weights and shapes (conformance against diffusers is separate).</summary>
public class FluxModelTests
{
    private readonly CpuBackend _cpu = new();

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Batch_items_are_independent(bool guidance)
    {
        var model = FluxTestModels.Model(_cpu, guidance);
        var inputs = FluxTestModels.Inputs.Random(batch: 2, gridHeight: 2, gridWidth: 3, textTokens: 4, seed: 11);
        float[] both = inputs.Run(_cpu, model, guidance);
        int perItem = inputs.Tokens * 16;
        Assert.Equal(2 * perItem, both.Length);
        for (int b = 0; b < 2; b++)
            TestData.AssertClose(inputs.Item(b).Run(_cpu, model, guidance), both.AsSpan(b * perItem, perItem), 1e-5, $"batch item {b} alone vs in a batch of 2");
        Assert.True(TestData.MaxAbsDiff(both.AsSpan(0, perItem), both.AsSpan(perItem, perItem)) > 1e-3, "different inputs must give different outputs");
    }

    [Fact]
    public void Guidance_changes_the_output_of_a_guidance_distilled_model()
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 2, 3, seed: 5);
        float[] a = inputs.Run(_cpu, model);
        float[] b = (inputs with { Guidance = [inputs.Guidance[0] + 1f] }).Run(_cpu, model);
        Assert.True(TestData.MaxAbsDiff(a, b) > 1e-3);
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 5, 2)]
    [InlineData(5, 2, 7)]
    public void Any_grid_and_text_length_gives_one_output_token_per_input_token(int gridHeight, int gridWidth, int textTokens)
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, gridHeight, gridWidth, textTokens, seed: 7);
        float[] y = inputs.Run(_cpu, model);
        Assert.Equal(gridHeight * gridWidth * 16, y.Length);
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void Shifting_every_position_id_by_the_same_amount_leaves_the_output_unchanged()
    {
        // RoPE makes q·k depend on position differences only, so a common offset of all ids (text included) cancels,
        // provided the same table rotates q and k of the same joined [text, image] sequence.
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, 3, 4, 3, seed: 9);
        float[] shift = [2f, -3f, 5f];
        var shifted = inputs with
        {
            ImgIds = inputs.ImgIds.Select((v, i) => v + shift[i % 3]).ToArray(),
            TxtIds = inputs.TxtIds.Select((v, i) => v + shift[i % 3]).ToArray(),
        };
        TestData.AssertClose(inputs.Run(_cpu, model), shifted.Run(_cpu, model), 2e-5, "output with shifted ids");
        // Shifting the image ids alone moves image tokens relative to the text: the output must change.
        var imageOnly = inputs with { ImgIds = shifted.ImgIds };
        Assert.True(TestData.MaxAbsDiff(inputs.Run(_cpu, model), imageOnly.Run(_cpu, model)) > 1e-4);
    }

    [Fact]
    public void Non_square_grid_rotates_rows_and_columns_on_their_own_axes()
    {
        // On a 2×3 grid, swapping the roles of rows and columns is not a symmetry: the row and column axes have
        // different widths (2 vs 4), so transposing the ids must change the result.
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 3, 2, seed: 13);
        var swapped = inputs with
        {
            ImgIds = Enumerable.Range(0, inputs.Tokens).SelectMany(t => new[] { 0f, inputs.ImgIds[3 * t + 2], inputs.ImgIds[3 * t + 1] }).ToArray(),
        };
        Assert.True(TestData.MaxAbsDiff(inputs.Run(_cpu, model), swapped.Run(_cpu, model)) > 1e-4);
    }

    [Fact]
    public void Missing_guidance_on_a_guidance_distilled_model_names_guidance()
    {
        var model = FluxTestModels.Model(_cpu, guidance: true);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 2, 3, seed: 1);
        var ex = Assert.Throws<ModelInputException>(() => inputs.Run(_cpu, model, withGuidance: false));
        Assert.Equal("guidance", ex.Argument);
        Assert.Contains("guidance_embeds", ex.Message);
    }

    [Fact]
    public void Guidance_given_to_a_model_without_guidance_embedder_names_guidance()
    {
        var model = FluxTestModels.Model(_cpu, guidance: false);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 2, 3, seed: 1);
        var ex = Assert.Throws<ModelInputException>(() => inputs.Run(_cpu, model, withGuidance: true));
        Assert.Equal("guidance", ex.Argument);
    }

    [Fact]
    public void A_model_without_guidance_has_no_guidance_embedder_weights()
    {
        var source = new RandomWeightSource(4);
        _ = new FluxTransformer2DModel(new WeightReader(source, _cpu), FluxTestModels.Config(guidance: false));
        Assert.DoesNotContain(source.Names, n => n.Contains("guidance_embedder"));
        var withGuidance = new RandomWeightSource(4);
        _ = new FluxTransformer2DModel(new WeightReader(withGuidance, _cpu), FluxTestModels.Config(guidance: true));
        Assert.Contains("time_text_embed.guidance_embedder.linear_1.weight", withGuidance.Names);
    }

    [Theory]
    [InlineData("img_ids", 5, "txt_ids", 3)]
    [InlineData("txt_ids", 4, "img_ids", 6)]
    public void Ids_whose_length_does_not_match_the_tokens_are_named(string wrong, int wrongRows, string right, int rightRows)
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 3, 3, seed: 2);
        var ids = new Dictionary<string, float[]> { [wrong] = new float[wrongRows * 3], [right] = new float[rightRows * 3] };
        var bad = inputs with { ImgIds = ids["img_ids"], TxtIds = ids["txt_ids"], Tokens = 6, TextTokens = 3 };
        var ex = Assert.Throws<ModelInputException>(() => _cpu.Download(model.Forward(
            _cpu.Upload(bad.Hidden, new Shape(1, 6, 16)), _cpu.Upload(bad.Context, new Shape(1, 3, 12)), _cpu.Upload(bad.Pooled, new Shape(1, 10)),
            _cpu.Upload(bad.Timestep, new Shape(1)), _cpu.Upload(bad.ImgIds, new Shape(ids["img_ids"].Length / 3, 3)),
            _cpu.Upload(bad.TxtIds, new Shape(ids["txt_ids"].Length / 3, 3)), _cpu.Upload(bad.Guidance, new Shape(1)))));
        Assert.Equal(wrong, ex.Argument);
    }

    [Fact]
    public void Ids_with_the_wrong_number_of_axes_are_named()
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 2, 3, seed: 2);
        var ex = Assert.Throws<ModelInputException>(() => model.Forward(
            _cpu.Upload(inputs.Hidden, new Shape(1, 4, 16)), _cpu.Upload(inputs.Context, new Shape(1, 3, 12)), _cpu.Upload(inputs.Pooled, new Shape(1, 10)),
            _cpu.Upload(inputs.Timestep, new Shape(1)), _cpu.Zeros(new Shape(4, 2)), _cpu.Zeros(new Shape(3, 3)), _cpu.Upload(inputs.Guidance, new Shape(1))));
        Assert.Equal("img_ids", ex.Argument);
    }

    [Fact]
    public void Wrong_input_width_names_the_argument()
    {
        var model = FluxTestModels.Model(_cpu);
        var ex = Assert.Throws<ModelInputException>(() => model.Forward(
            _cpu.Zeros(new Shape(1, 4, 16)), _cpu.Zeros(new Shape(1, 3, 13)), _cpu.Zeros(new Shape(1, 10)), _cpu.Zeros(new Shape(1)),
            _cpu.Zeros(new Shape(4, 3)), _cpu.Zeros(new Shape(3, 3)), _cpu.Zeros(new Shape(1))));
        Assert.Equal("encoder_hidden_states", ex.Argument);
    }

    [Fact]
    public void Component_broadcasts_scalar_timestep_and_guidance_and_accepts_3d_ids()
    {
        var model = FluxTestModels.Model(_cpu);
        var component = new FluxTransformerComponent(model);
        var inputs = FluxTestModels.Inputs.Random(2, 2, 2, 3, seed: 21) with { Timestep = [0.4f, 0.4f], Guidance = [3f, 3f] };
        float[] expected = inputs.Run(_cpu, model);
        var named = new Dictionary<string, Tensor>
        {
            ["hidden_states"] = _cpu.Upload(inputs.Hidden, new Shape(2, 4, 16)),
            ["encoder_hidden_states"] = _cpu.Upload(inputs.Context, new Shape(2, 3, 12)),
            ["pooled_projections"] = _cpu.Upload(inputs.Pooled, new Shape(2, 10)),
            ["timestep"] = _cpu.Upload([0.4f], new Shape(1)),
            ["guidance"] = _cpu.Upload([3f], new Shape(Array.Empty<int>())),
            ["img_ids"] = _cpu.Upload([.. inputs.ImgIds, .. inputs.ImgIds], new Shape(2, 4, 3)),
            ["txt_ids"] = _cpu.Upload(inputs.TxtIds, new Shape(1, 3, 3)),
        };
        float[] got = _cpu.Download(component.Forward(named)["sample"]);
        TestData.AssertClose(expected, got, 1e-6, "component vs model");
    }

    [Fact]
    public void Component_accepts_integer_ids_as_read_from_int64_files()
    {
        var model = FluxTestModels.Model(_cpu);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 3, 2, seed: 17);
        var named = new Dictionary<string, Tensor>
        {
            ["hidden_states"] = _cpu.Upload(inputs.Hidden, new Shape(1, 6, 16)),
            ["encoder_hidden_states"] = _cpu.Upload(inputs.Context, new Shape(1, 2, 12)),
            ["pooled_projections"] = _cpu.Upload(inputs.Pooled, new Shape(1, 10)),
            ["timestep"] = _cpu.Upload(inputs.Timestep, new Shape(1)),
            ["guidance"] = _cpu.UploadIndices([4], new Shape(1)),
            ["img_ids"] = _cpu.UploadIndices(inputs.ImgIds.Select(v => (int)v).ToArray(), new Shape(6, 3)),
            ["txt_ids"] = _cpu.UploadIndices(new int[6], new Shape(2, 3)),
        };
        float[] got = _cpu.Download(new FluxTransformerComponent(model).Forward(named)["sample"]);
        TestData.AssertClose((inputs with { Guidance = [4f] }).Run(_cpu, model), got, 1e-6, "integer inputs vs float inputs");
    }

    [Fact]
    public void Component_of_a_guidance_distilled_model_requires_guidance_by_name()
    {
        var component = new FluxTransformerComponent(FluxTestModels.Model(_cpu));
        Assert.Contains(component.Inputs, i => i.Name == "guidance" && i.Required);
        var ex = Assert.Throws<AccelAesException>(() => component.Forward(new Dictionary<string, Tensor>
        {
            ["hidden_states"] = _cpu.Zeros(new Shape(1, 4, 16)),
            ["encoder_hidden_states"] = _cpu.Zeros(new Shape(1, 3, 12)),
            ["pooled_projections"] = _cpu.Zeros(new Shape(1, 10)),
            ["timestep"] = _cpu.Zeros(new Shape(1)),
            ["img_ids"] = _cpu.Zeros(new Shape(4, 3)),
            ["txt_ids"] = _cpu.Zeros(new Shape(3, 3)),
        }));
        Assert.Contains("'guidance'", ex.Message);
    }

    [Fact]
    public void Patch_size_only_widens_proj_out_as_in_diffusers()
    {
        var config = FluxTestModels.Config(guidance: false) with { PatchSize = 2, OutChannels = 5 };
        var model = new FluxTransformer2DModel(new WeightReader(new RandomWeightSource(2), _cpu), config);
        var inputs = FluxTestModels.Inputs.Random(1, 2, 3, 2, seed: 3);
        Assert.Equal(inputs.Tokens * 2 * 2 * 5, inputs.Run(_cpu, model, withGuidance: false).Length);
    }
}
