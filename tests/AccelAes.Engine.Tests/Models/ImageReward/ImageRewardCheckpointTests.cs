using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.ImageReward;
using AccelAes.Engine.Models.ImageReward;
using AccelAes.Engine.Weights;
using AccelAes.Loader.SafeTensors;
using static AccelAes.Engine.Tests.Models.ImageReward.ImageRewardTestModels;

namespace AccelAes.Engine.Tests.Models.ImageReward;

/// <summary>
/// Key names and the config read off a checkpoint: a file holding exactly the published state dict's names (listed by
/// hand in <see cref="PublishedImageRewardKeys"/>) loads with every tensor consumed except the five the score does not
/// use, and the config comes back from the shapes.
/// </summary>
public sealed class ImageRewardCheckpointTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// A small config that the shape rules can recover: the ViT 64 wide (BLIP's 64-wide heads → 1 head), the BERT's
    /// 2 heads from med_config.json.
    /// </summary>
    private static ImageRewardConfig Checkpointable() => new(
        new BlipVisionConfig(ImageSize: 8, PatchSize: 4, Width: 64, Depth: 2, Heads: 1, MlpHidden: 96),
        new BlipTextConfig(VocabSize: 24, HiddenSize: 8, Layers: 3, Heads: 2, IntermediateSize: 16, MaxPositionEmbeddings: 40, EncoderWidth: 64),
        [8, 7, 6, 5, 4, 1], ImageRewardConfig.PublishedMean, ImageRewardConfig.PublishedStd);

    private string WriteCheckpoint(Dictionary<string, long[]> keys, string name = "ImageReward.safetensors")
    {
        var writer = new SafeTensorsWriter();
        int seed = 1;
        foreach ((string key, long[] shape) in keys)
            writer.Add(key, shape, TestData.Random((int)shape.Aggregate(1L, (a, b) => a * b), seed++, -0.5f, 0.5f));
        string path = _dir.File(name);
        writer.Save(path);
        return path;
    }

    private void WriteMedConfig(int heads) => TempDirectory.WriteText(_dir.Path, ImageRewardMetric.MedConfigFile,
        $$"""{"architectures": ["BertModel"], "hidden_act": "gelu", "hidden_size": 8, "layer_norm_eps": 1e-12, "num_attention_heads": {{heads}}, "vocab_size": 24, "encoder_width": 64, "add_cross_attention": true}""");

    [Fact]
    public void Every_published_key_is_consumed_except_the_projections_and_position_ids()
    {
        ImageRewardConfig config = Checkpointable();
        string path = WriteCheckpoint(PublishedImageRewardKeys.For(config));
        using var set = SafeTensorsSet.OpenFile(path);
        var reader = new WeightReader(new SafeTensorsWeightSource(set, path), Cpu);
        _ = new ImageRewardModel(reader, config);
        Assert.Equal(ImageRewardMetric.UnusedByScore.Order(StringComparer.Ordinal), reader.UnusedTensors());
    }

    [Fact]
    public void Load_reads_the_config_off_the_shapes_and_med_config()
    {
        ImageRewardConfig expected = Checkpointable();
        string path = WriteCheckpoint(PublishedImageRewardKeys.For(expected));
        WriteMedConfig(heads: 2);
        string vocab = _dir.Sub("tokenizer");
        TempDirectory.WriteText(vocab, "vocab.txt", string.Join("\n", Vocab) + "\n");

        using ImageRewardMetric metric = ImageRewardMetric.Load(path, vocab, Cpu);
        Assert.Equal(expected.Vision, metric.Config.Vision);
        Assert.Equal(expected.Text, metric.Config.Text);
        Assert.Equal(expected.HeadWidths, metric.Config.HeadWidths);
        Assert.Empty(metric.UnexpectedTensors);
        Assert.Equal("imagereward", metric.Name);
        Assert.True(metric.UsesPrompt);
    }

    [Fact]
    public void Med_config_heads_are_used_and_without_it_bert_base_s_12_are_assumed()
    {
        ImageRewardConfig config = Checkpointable();
        Dictionary<string, long[]> keys = PublishedImageRewardKeys.For(config);
        IReadOnlyList<long>? ShapeOf(string name) => keys.TryGetValue(name, out long[]? s) ? s : null;
        var med = AccelAes.Loader.Diffusers.JsonConfig.Parse("med_config.json", """{"num_attention_heads": 4, "layer_norm_eps": 0.5, "hidden_act": "gelu_new"}""");
        ImageRewardConfig withMed = ImageRewardConfig.Infer(ShapeOf, "test", med);
        Assert.Equal(4, withMed.Text.Heads);
        Assert.Equal(0.5, withMed.Text.LayerNormEps);
        Assert.Equal("gelu_new", withMed.Text.HiddenAct);
        // Without med_config.json the published 12 heads do not divide a width of 8: the error names the field.
        var e = Assert.Throws<AccelAesException>(() => ImageRewardConfig.Infer(ShapeOf, "test"));
        Assert.Contains("num_attention_heads 12", e.Message);
    }

    /// <summary>The published shapes (ViT-L/16 at 224, bert-base with 30524 ids, 768 → … → 1) give back the published config.</summary>
    [Fact]
    public void Published_shapes_infer_the_published_config()
    {
        Dictionary<string, long[]> keys = PublishedImageRewardKeys.For(ImageRewardConfig.Published);
        Assert.Equal(24 * 12 + 4 + 2, keys.Keys.Count(k => k.StartsWith("blip.visual_encoder.", StringComparison.Ordinal)));
        ImageRewardConfig inferred = ImageRewardConfig.Infer(name => keys.TryGetValue(name, out long[]? s) ? s : null, "ImageReward.pt");
        ImageRewardConfig published = ImageRewardConfig.Published;
        Assert.Equal(new BlipVisionConfig(224, 16, 1024, 24, 16, 4096), inferred.Vision);
        Assert.Equal(new BlipTextConfig(30524, 768, 12, 12, 3072, 512, 1024), inferred.Text);
        Assert.Equal(published.Vision, inferred.Vision);
        Assert.Equal(published.Text, inferred.Text);
        Assert.Equal([768, 1024, 128, 64, 16, 1], inferred.HeadWidths);
        Assert.Equal(0.16717362830052426, inferred.RewardMean);
        Assert.Equal(1.0333394966054072, inferred.RewardStd);
        Assert.Equal(35, inferred.MaxTextLength);
    }

    [Fact]
    public void A_missing_tensor_is_named()
    {
        ImageRewardConfig config = Checkpointable();
        Dictionary<string, long[]> keys = PublishedImageRewardKeys.For(config);
        keys.Remove("blip.text_encoder.encoder.layer.1.crossattention.output.LayerNorm.bias");
        string path = WriteCheckpoint(keys);
        using var set = SafeTensorsSet.OpenFile(path);
        var e = Assert.ThrowsAny<Exception>(() => new ImageRewardModel(new WeightReader(new SafeTensorsWeightSource(set, path), Cpu), config));
        Assert.Contains("blip.text_encoder.encoder.layer.1.crossattention.output.LayerNorm.bias", e.Message);
    }

    [Fact]
    public void Not_an_imagereward_checkpoint_is_refused_naming_the_first_missing_tensor()
    {
        string path = WriteCheckpoint(new Dictionary<string, long[]> { ["text_model.embeddings.token_embedding.weight"] = [10, 4] });
        string vocab = _dir.Sub("tokenizer");
        TempDirectory.WriteText(vocab, "vocab.txt", string.Join("\n", Vocab) + "\n");
        var e = Assert.Throws<AccelAesException>(() => ImageRewardMetric.Load(path, vocab, Cpu));
        Assert.Contains("blip.visual_encoder.patch_embed.proj.weight", e.Message);
    }

    [Fact]
    public void Tensors_nobody_accounts_for_are_reported()
    {
        ImageRewardConfig config = Checkpointable();
        Dictionary<string, long[]> keys = PublishedImageRewardKeys.For(config);
        keys["blip.itm_head.weight"] = [2, 8];
        string path = WriteCheckpoint(keys);
        WriteMedConfig(heads: 2);
        string vocab = _dir.Sub("tokenizer");
        TempDirectory.WriteText(vocab, "vocab.txt", string.Join("\n", Vocab) + "\n");
        using (ImageRewardMetric metric = ImageRewardMetric.Load(path, vocab, Cpu))
            Assert.Equal(["blip.itm_head.weight"], metric.UnexpectedTensors);
    }

    [Fact]
    public void A_tokenizer_with_more_ids_than_the_embedding_table_is_refused()
    {
        ImageRewardConfig config = Checkpointable() with
        {
            Text = Checkpointable().Text with { VocabSize = 20 },
        };
        string vocab = _dir.Sub("tokenizer");
        TempDirectory.WriteText(vocab, "vocab.txt", string.Join("\n", Vocab) + "\n");
        var e = Assert.Throws<AccelAesException>(() =>
            ImageRewardMetric.Create(new RandomWeightSource(1), config, AccelAes.Loader.Tokenizers.BertWordPieceTokenizer.FromFolder(vocab), Cpu));
        Assert.Contains("24 ids", e.Message);
    }

    [Fact]
    public void Missing_checkpoint_or_tokenizer_folder_is_named()
    {
        string vocab = _dir.Sub("tokenizer");
        TempDirectory.WriteText(vocab, "vocab.txt", string.Join("\n", Vocab) + "\n");
        var e = Assert.ThrowsAny<AccelAesException>(() => ImageRewardMetric.Load(_dir.File("absent.safetensors"), vocab, Cpu));
        Assert.Contains("absent.safetensors", e.Message);
        e = Assert.ThrowsAny<AccelAesException>(() => ImageRewardMetric.Load(_dir.File("ImageReward.pt"), vocab, Cpu));
        Assert.Contains("ImageReward.pt", e.Message);
        string path = WriteCheckpoint(PublishedImageRewardKeys.For(Checkpointable()));
        e = Assert.ThrowsAny<AccelAesException>(() => ImageRewardMetric.Load(path, _dir.File("no-tokenizer"), Cpu));
        Assert.Contains("no-tokenizer", e.Message);
    }

    /// <summary>
    /// eval and score build the metric through the catalog: from the published .pt (torch.save format) as from
    /// safetensors, with the BERT vocabulary beside the checkpoint or named by --imagereward-tokenizer.
    /// </summary>
    [Fact]
    public void The_catalog_loads_the_pt_checkpoint_with_the_vocabulary_beside_it_or_given()
    {
        string safetensors = WriteCheckpoint(PublishedImageRewardKeys.For(Checkpointable()));
        WriteMedConfig(heads: 2);
        string pt = _dir.File("ImageReward.pt");
        TorchSaveFiles.FromSafeTensors(safetensors, pt);
        string elsewhere = _dir.Sub("bert-base-uncased");
        TempDirectory.WriteText(elsewhere, "vocab.txt", string.Join("\n", Vocab) + "\n");
        var image = new Pipelines.Generation.RgbImage(12, 9, Enumerable.Range(0, 12 * 9 * 3).Select(i => (byte)(i * 5)).ToArray());
        using ImageRewardMetric direct = ImageRewardMetric.Load(safetensors, elsewhere, Cpu);
        double expected = direct.Score(image, "a red cat");

        var named = new ScorerFiles(null, null, null, pt, Cpu) { ImageRewardTokenizer = elsewhere };
        using (IImageMetric metric = MetricCatalog.Create(MetricCatalog.Select("imagereward"), named).Single())
            Assert.Equal(expected, metric.Score(image, "a red cat"));

        var e = Assert.Throws<AccelAesException>(() => MetricCatalog.Create(MetricCatalog.Select("imagereward"), named with { ImageRewardTokenizer = null }));
        Assert.Contains("--imagereward-tokenizer", e.Message);
        TempDirectory.WriteText(_dir.Path, "vocab.txt", string.Join("\n", Vocab) + "\n");
        using (IImageMetric beside = MetricCatalog.Create(MetricCatalog.Select("imagereward"), named with { ImageRewardTokenizer = null }).Single())
            Assert.Equal(expected, beside.Score(image, "a red cat"));
    }
}
