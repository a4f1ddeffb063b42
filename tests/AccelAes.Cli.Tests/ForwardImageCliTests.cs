namespace AccelAes.Cli.Tests;

/// <summary>
/// `accelaes forward --image` on a CLIP image tower: the PNG is preprocessed as CLIPImageProcessor does, the tower's
/// outputs match transformers on that image, and the pixel_values used are written beside them.
/// </summary>
public class ForwardImageCliTests
{
    private static string Clip(params string[] parts) => GoldenFiles.At(["clip_vision_tiny", .. parts]);
    private static string TestPng => Clip("preprocess", "test_image_64x48.png");

    [GoldenFact]
    public void Forward_on_an_image_matches_the_golden_and_writes_the_pixel_values_it_used()
    {
        using var dir = new TempDirectory();
        string output = dir.File("out.safetensors");
        var r = CliRunner.Run("forward", "--model", Clip("vision_with_projection"), "--image", TestPng,
            "--processor", Clip("preprocess", "processor_32", "preprocessor_config.json"),
            "--out", output, "--compare", Clip("preprocess", "test_image_vision_outputs.safetensors"));
        Assert.True(r.ExitCode == 0, r.All);
        var ours = GoldenTensors.Load(output);
        var expected = GoldenTensors.Load(Clip("preprocess", "test_image_vision_outputs.safetensors"));
        GoldenTensors.AssertConforms(expected["image_embeds"].Values, ours["image_embeds"].Values, "image_embeds");
        var pixels = GoldenTensors.Load(Clip("preprocess", "preprocess_32.safetensors"))["pixel_values"];
        Assert.Equal(pixels.Shape, ours["pixel_values"].Shape);
        Assert.True(TestDataDiff(pixels.Values, ours["pixel_values"].Values) <= 1e-6, "pixel_values differ from CLIPImageProcessor's");
    }

    [GoldenFact]
    public void The_processor_folder_is_read_like_the_file_and_a_clip_model_takes_image_and_ids_together()
    {
        using var dir = new TempDirectory();
        var golden = GoldenTensors.Load(Clip("inputs.safetensors"));
        var writer = new Loader.SafeTensors.SafeTensorsWriter();
        var ids = golden["input_ids"];
        writer.Add("input_ids", ids.Shape.Select(d => (long)d).ToArray(), ids.Values);
        string inputs = dir.File("ids.safetensors");
        writer.Save(inputs);
        string output = dir.File("out.safetensors");
        var r = CliRunner.Run("forward", "--model", Clip("clip_model"), "--image", TestPng, "--inputs", inputs,
            "--processor", Clip("preprocess", "processor_32"), "--out", output);
        Assert.True(r.ExitCode == 0, r.All);
        var ours = GoldenTensors.Load(output);
        Assert.Equal([1, 2], ours["logits_per_image"].Shape);
        var imageEmbeds = GoldenTensors.Load(Clip("preprocess", "test_image_vision_outputs.safetensors"))["image_embeds"];
        // CLIPModel's image tower is the same tensors as vision_with_projection: its normalised features on this image.
        double norm = Math.Sqrt(imageEmbeds.Values.Sum(v => (double)v * v));
        GoldenTensors.AssertConforms(imageEmbeds.Values.Select(v => (float)(v / norm)).ToArray(), ours["image_embeds"].Values, "image_embeds");
    }

    [GoldenFact]
    public void Missing_preprocessing_settings_are_named_with_the_places_looked_at()
    {
        using var dir = new TempDirectory();
        var r = CliRunner.Run("forward", "--model", Clip("vision_with_projection"), "--image", TestPng, "--out", dir.File("o.safetensors"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--processor", CliCache.Flat(r.All));
        Assert.Contains("preprocessor_config.json", CliCache.Flat(r.All));
        Assert.False(File.Exists(dir.File("o.safetensors")));
    }

    [GoldenFact]
    public void A_processor_whose_crop_does_not_fit_the_model_is_named_as_the_cause()
    {
        using var dir = new TempDirectory();
        var r = CliRunner.Run("forward", "--model", Clip("vision_with_projection"), "--image", TestPng,
            "--processor", Clip("preprocess", "processor_224"), "--out", dir.File("o.safetensors"));
        Assert.Equal(1, r.ExitCode);
        string flat = CliCache.Flat(r.All);
        Assert.Contains("[1, 3, 224, 224]", flat);
        Assert.Contains("crop_size", flat);
    }

    [GoldenFact]
    public void An_image_for_a_component_without_pixel_values_and_a_non_png_are_refused()
    {
        using var dir = new TempDirectory();
        var text = CliRunner.Run("forward", "--model", GoldenFiles.At("text_encoders", "clip_text_tiny"), "--image", TestPng,
            "--processor", Clip("preprocess", "processor_32"), "--out", dir.File("o.safetensors"));
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("takes no pixel_values", CliCache.Flat(text.All));

        string notPng = dir.File("image.png");
        File.WriteAllText(notPng, "not an image");
        var bad = CliRunner.Run("forward", "--model", Clip("vision_with_projection"), "--image", notPng,
            "--processor", Clip("preprocess", "processor_32"), "--out", dir.File("o.safetensors"));
        Assert.Equal(1, bad.ExitCode);
        Assert.Contains("not a PNG", CliCache.Flat(bad.All));
    }

    [Fact]
    public void Forward_needs_inputs_or_an_image()
    {
        using var dir = new TempDirectory();
        var r = CliRunner.Run("forward", "--model", dir.Path, "--out", dir.File("o.safetensors"));
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("--inputs", CliCache.Flat(r.All));
        Assert.Contains("--image", CliCache.Flat(r.All));

        string inputs = dir.File("in.safetensors");
        new Loader.SafeTensors.SafeTensorsWriter().Add("x", [1], [0f]).Save(inputs);
        var processorAlone = CliRunner.Run("forward", "--model", dir.Path, "--inputs", inputs, "--processor", dir.Path, "--out", dir.File("o.safetensors"));
        Assert.Equal(1, processorAlone.ExitCode);
        Assert.Contains("--processor applies with --image only", CliCache.Flat(processorAlone.All));
    }

    private static double TestDataDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }
}
