using AccelAes.Engine.Backends.Cpu;
using AccelAes.Engine.Components;
using AccelAes.Engine.Models.Clip;
using AccelAes.Engine.Models.TextEncoders;
using AccelAes.Engine.Tensors;
using AccelAes.Loader.Diffusers;
using Xunit.Abstractions;

namespace AccelAes.Engine.Tests.Conformance;

/// <summary>
/// The CLIP image tower and CLIPModel against transformers' outputs (../shared/conformance/clip_vision_tiny, README
/// B.1–B.2), through the same component path as <c>accelaes forward</c>: every output of the golden, 1e-4 relative.
/// </summary>
public class ClipVisionConformanceTests(ITestOutputHelper log)
{
    private const string Suite = "clip_vision_tiny";
    private static readonly CpuBackend Cpu = ConformanceHarness.Cpu;

    [GoldenFact]
    public void Vision_tower_with_projection_matches_every_vision_output()
    {
        LoadedComponent loaded = Load("vision_with_projection");
        Assert.Empty(loaded.UnusedTensors);
        var result = loaded.Forward.Forward(Inputs("pixel_values"));
        var golden = Golden();
        Check(golden["vision_image_embeds"], result["image_embeds"], "image_embeds");
        Check(golden["vision_last_hidden_state"], result["last_hidden_state"], "last_hidden_state");
        for (int i = 0; i <= 2; i++)
            Check(golden[$"vision_hidden_states_{i}"], result[$"hidden_states.{i}"], $"hidden_states.{i}");
        Assert.False(result.ContainsKey("hidden_states.3"));

        // CLIPVisionModelOutput has no pooler; the tower under it does.
        var model = ((ClipVisionComponent)loaded.Forward).WithProjection!;
        Check(golden["vision_pooler_output"], model.VisionModel.Forward(Inputs("pixel_values")["pixel_values"]).PoolerOutput, "pooler_output");
    }

    [GoldenFact]
    public void Clip_model_matches_logits_embeddings_features_and_both_towers()
    {
        LoadedComponent loaded = Load("clip_model");
        Assert.Empty(loaded.UnusedTensors);
        var inputs = Inputs("pixel_values", "input_ids");
        var result = loaded.Forward.Forward(inputs);
        var golden = Golden();
        Check(golden["clip_logits_per_image"], result["logits_per_image"], "logits_per_image");
        Check(golden["clip_logits_per_text"], result["logits_per_text"], "logits_per_text");
        Check(golden["clip_text_embeds"], result["text_embeds"], "text_embeds");
        Check(golden["clip_image_embeds"], result["image_embeds"], "image_embeds");
        Check(golden["clip_text_last_hidden_state"], result["text_model_output.last_hidden_state"], "text last_hidden_state");
        Check(golden["clip_text_pooler_output"], result["text_model_output.pooler_output"], "text pooler_output");
        Check(golden["clip_vision_last_hidden_state"], result["vision_model_output.last_hidden_state"], "vision last_hidden_state");
        Check(golden["clip_vision_pooler_output"], result["vision_model_output.pooler_output"], "vision pooler_output");

        ClipModel model = ((ClipModelComponent)loaded.Forward).Model;
        Assert.Equal(3.0f, model.LogitScale);
        var ids = TokenGrid.FromTensor(inputs["input_ids"], "input_ids");
        Check(golden["clip_image_features"], model.GetImageFeatures(inputs["pixel_values"]), "get_image_features");
        Check(golden["clip_text_features"], model.GetTextFeatures(ids), "get_text_features");
    }

    [GoldenFact]
    public void Vision_tower_on_the_preprocessed_test_image_matches()
    {
        var pre = GoldenTensors.Load(GoldenFiles.At(Suite, "preprocess", "preprocess_32.safetensors"));
        var expected = GoldenTensors.Load(GoldenFiles.At(Suite, "preprocess", "test_image_vision_outputs.safetensors"));
        var result = Load("vision_with_projection").Forward.Forward(
            new Dictionary<string, Tensor> { ["pixel_values"] = ConformanceHarness.Upload(pre["pixel_values"]) });
        Check(expected["image_embeds"], result["image_embeds"], "image_embeds");
        Check(expected["last_hidden_state"], result["last_hidden_state"], "last_hidden_state");
    }

    [GoldenFact]
    public void Pixel_values_of_another_size_are_refused_naming_the_expected_shape()
    {
        var component = Load("vision_with_projection").Forward;
        var wrong = new Dictionary<string, Tensor> { ["pixel_values"] = Cpu.Zeros(new Shape(1, 3, 40, 40)) };
        var e = Assert.ThrowsAny<AccelAesException>(() => component.Forward(wrong));
        Assert.Contains("pixel_values", e.Message);
        Assert.Contains("[B, 3, 32, 32]", e.Message);
    }

    private void Check(GoldenTensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape.ToArray());
        float[] ours = Cpu.Download(actual);
        log.WriteLine($"{what}: {GoldenTensors.RelativeMaxError(expected.Values, ours):E2}");
        GoldenTensors.AssertConforms(expected.Values, ours, what);
    }

    private static LoadedComponent Load(string folder)
        => ComponentLoader.Load(ModelFolder.Open(GoldenFiles.At(Suite, folder)).Component(folder), Cpu);

    private static Dictionary<string, GoldenTensor> Golden() => GoldenTensors.Load(GoldenFiles.At(Suite, "outputs.safetensors"));

    private static Dictionary<string, Tensor> Inputs(params string[] names)
        => ConformanceHarness.Inputs(GoldenTensors.Load(GoldenFiles.At(Suite, "inputs.safetensors")), names);
}

/// <summary>`inspect` names the CLIP classes from tensor names alone.</summary>
public class ClipClassDetectionTests
{
    [GoldenTheory]
    [InlineData("clip_model", "CLIPModel")]
    [InlineData("vision_with_projection", "CLIPVisionModelWithProjection")]
    public void The_golden_checkpoints_are_recognised(string folder, string expected)
    {
        using var set = Loader.SafeTensors.SafeTensorsSet.OpenFile(GoldenFiles.At("clip_vision_tiny", folder, "model.safetensors"));
        Assert.Equal(expected, Loader.Diffusers.ModelClassDetector.Detect(set.Tensors.Select(t => t.Name)));
        var withoutProjection = set.Tensors.Select(t => t.Name).Where(n => n.StartsWith("vision_model.", StringComparison.Ordinal));
        Assert.Equal("CLIPVisionModel", Loader.Diffusers.ModelClassDetector.Detect(withoutProjection));
    }
}
