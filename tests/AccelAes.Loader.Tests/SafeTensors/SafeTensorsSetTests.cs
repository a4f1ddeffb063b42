using System.Text.Json;
using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class SafeTensorsSetTests : IDisposable
{
    private const string Base = "diffusion_pytorch_model";
    private readonly TempDirectory _dir = new();
    private readonly Random _random = new(97);

    public void Dispose() => _dir.Dispose();

    private float[] Values(int count) => Enumerable.Range(0, count).Select(_ => (float)_random.NextDouble() * 2 - 1).ToArray();

    private string WriteFile(string fileName, params (string Name, float[] Values)[] tensors)
    {
        var writer = new SafeTensorsWriter().AddMetadata("format", "pt");
        foreach (var (name, values) in tensors)
            writer.Add(name, [values.Length], values);
        var path = _dir.File(fileName);
        writer.Save(path);
        return path;
    }

    private void WriteIndex(string fileName, object weightMap) =>
        File.WriteAllText(_dir.File(fileName),
            JsonSerializer.Serialize(new Dictionary<string, object> { ["metadata"] = new { total_size = 0 }, ["weight_map"] = weightMap }));

    private (float[] A, float[] B, float[] C) WriteTwoShards(string shardPrefix, string indexName)
    {
        var (a, b, c) = (Values(5), Values(3), Values(8));
        WriteFile($"{shardPrefix}-00001-of-00002.safetensors", ("a.weight", a), ("b.weight", b));
        WriteFile($"{shardPrefix}-00002-of-00002.safetensors", ("c.weight", c));
        WriteIndex(indexName, new Dictionary<string, string>
        {
            ["a.weight"] = $"{shardPrefix}-00001-of-00002.safetensors",
            ["b.weight"] = $"{shardPrefix}-00001-of-00002.safetensors",
            ["c.weight"] = $"{shardPrefix}-00002-of-00002.safetensors",
        });
        return (a, b, c);
    }

    [Fact]
    public void Single_file_opens_as_a_set()
    {
        var values = Values(6);
        var path = WriteFile("one.safetensors", ("x", values));

        using var set = SafeTensorsSet.OpenFile(path);

        Assert.Equal(path, set.Source);
        Assert.True(set.Contains("x"));
        Assert.Equal(values, set.ReadAsFloat32("x"));
        Assert.Equal(24, set.TotalBytes);
        Assert.Equal(24, set.GetBytes(set.Get("x")).Length);
        Assert.Same(set.Files[0], set.FileOf(set.Get("x")));
    }

    [Fact]
    public void Sharded_checkpoint_reads_every_tensor_from_its_shard()
    {
        var (a, b, c) = WriteTwoShards(Base, $"{Base}.safetensors.index.json");

        using var set = SafeTensorsSet.OpenComponent(_dir.Path, Base, null);

        Assert.EndsWith(".safetensors.index.json", set.Source);
        Assert.Equal(2, set.Files.Count);
        Assert.Equal(["a.weight", "b.weight", "c.weight"], set.Tensors.Select(t => t.Name));
        Assert.Equal(a, set.ReadAsFloat32("a.weight"));
        Assert.Equal(b, set.ReadAsFloat32("b.weight"));
        Assert.Equal(c, set.ReadAsFloat32("c.weight"));
        Assert.EndsWith("-00002-of-00002.safetensors", set.Get("c.weight").FilePath);
        Assert.Equal((5 + 3 + 8) * 4, set.TotalBytes);
    }

    [Fact]
    public void A_shard_index_opens_as_a_file_and_any_other_json_is_named_as_no_checkpoint()
    {
        var (a, _, _) = WriteTwoShards(Base, $"{Base}.safetensors.index.json");
        using (var set = SafeTensorsSet.OpenFile(_dir.File($"{Base}.safetensors.index.json")))
            Assert.Equal(a, set.ReadAsFloat32("a.weight"));

        string config = _dir.File("config.json");
        File.WriteAllText(config, "{\"_class_name\": \"SD3Transformer2DModel\"}");
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenFile(config));
        Assert.Equal(SafeTensorsProblem.JsonNotCheckpoint, error.Problem);
        Assert.Contains("this is a JSON file, not a safetensors checkpoint", error.Message);
    }

    [Theory]
    [InlineData(Base + ".safetensors.index.fp16.json")] // what save_pretrained writes
    [InlineData(Base + ".fp16.safetensors.index.json")]
    public void Sharded_variant_index_is_found_under_either_naming(string indexName)
    {
        WriteTwoShards($"{Base}.fp16", indexName);
        WriteFile($"{Base}.safetensors", ("unsuffixed", Values(1)));

        using var set = SafeTensorsSet.OpenComponent(_dir.Path, Base, "fp16");

        Assert.EndsWith(indexName, set.Source);
        Assert.Equal(3, set.Tensors.Count);
        Assert.Equal(["fp16"], SafeTensorsSet.FindVariants(_dir.Path, Base));
    }

    [Fact]
    public void Variant_selects_its_file_and_null_prefers_the_unsuffixed_file()
    {
        WriteFile($"{Base}.safetensors", ("plain", Values(2)));
        WriteFile($"{Base}.bf16.safetensors", ("bf16", Values(2)));
        WriteFile($"{Base}.fp16.safetensors", ("fp16", Values(2)));

        using (var plain = SafeTensorsSet.OpenComponent(_dir.Path, Base, null))
            Assert.True(plain.Contains("plain"));
        using (var bf16 = SafeTensorsSet.OpenComponent(_dir.Path, Base, "bf16"))
            Assert.True(bf16.Contains("bf16"));
        using (var fp16 = SafeTensorsSet.OpenComponent(_dir.Path, Base, "fp16"))
            Assert.True(fp16.Contains("fp16"));
        Assert.Equal(["bf16", "fp16"], SafeTensorsSet.FindVariants(_dir.Path, Base));
    }

    [Fact]
    public void Only_variant_files_present_names_the_variants()
    {
        WriteFile($"{Base}.bf16.safetensors", ("x", Values(1)));
        WriteFile($"{Base}.fp16.safetensors", ("x", Values(1)));

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.FileNotFound, error.Problem);
        Assert.Contains("bf16, fp16", error.Message);
        Assert.Contains($"{Base}.safetensors", error.Message);
        Assert.Contains($"{Base}.safetensors.index.json", error.Message);
    }

    [Fact]
    public void Missing_variant_lists_candidates_tried_and_what_exists()
    {
        WriteFile($"{Base}.safetensors", ("x", Values(1)));
        WriteFile($"{Base}.bf16.safetensors", ("x", Values(1)));

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, "fp16"));

        Assert.Equal(SafeTensorsProblem.FileNotFound, error.Problem);
        Assert.Contains($"{Base}.fp16.safetensors", error.Message);
        Assert.Contains($"{Base}.safetensors.index.fp16.json", error.Message);
        Assert.Contains($"{Base}.fp16.safetensors.index.json", error.Message);
        Assert.Contains("bf16", error.Message);
        Assert.Contains("unsuffixed", error.Message);
    }

    [Fact]
    public void Missing_folder_and_empty_folder_are_reported()
    {
        var missing = Path.Combine(_dir.Path, "transformer");
        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(missing, Base, null));
        Assert.Equal(SafeTensorsProblem.FileNotFound, error.Problem);
        Assert.Contains(missing, error.Message);

        var empty = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, "model", null));
        Assert.Contains("model.safetensors", empty.Message);
        // A variant becomes part of a file name: a user error (not an internal one) when it could leave the folder.
        var variant = Assert.Throws<AccelAesException>(() => SafeTensorsSet.OpenComponent(_dir.Path, "model", "../x"));
        Assert.Contains("Variant '../x'", variant.Message);
    }

    [Fact]
    public void Index_naming_a_missing_shard_is_reported()
    {
        WriteFile("s1.safetensors", ("a", Values(1)));
        WriteIndex($"{Base}.safetensors.index.json", new Dictionary<string, string> { ["a"] = "s1.safetensors", ["b"] = "s2.safetensors" });

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.MissingShard, error.Problem);
        Assert.Contains("s2.safetensors", error.Message);
        Assert.EndsWith(".index.json", error.FilePath);
    }

    [Fact]
    public void Index_mapping_a_tensor_to_the_wrong_shard_is_reported()
    {
        WriteFile("s1.safetensors", ("a", Values(1)));
        WriteFile("s2.safetensors", ("b", Values(1)));
        WriteIndex($"{Base}.safetensors.index.json", new Dictionary<string, string> { ["a"] = "s2.safetensors", ["b"] = "s1.safetensors" });

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.TensorNotInShard, error.Problem);
        Assert.Equal("a", error.TensorName);
        Assert.Contains("s1.safetensors", error.Message);
    }

    [Fact]
    public void Index_mapping_a_tensor_no_shard_holds_is_reported()
    {
        WriteFile("s1.safetensors", ("a", Values(1)));
        WriteIndex($"{Base}.safetensors.index.json", new Dictionary<string, string> { ["a"] = "s1.safetensors", ["ghost"] = "s1.safetensors" });

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.TensorNotInShard, error.Problem);
        Assert.Equal("ghost", error.TensorName);
    }

    [Fact]
    public void Tensor_stored_in_two_shards_is_reported()
    {
        WriteFile("s1.safetensors", ("a", Values(1)), ("dup", Values(1)));
        WriteFile("s2.safetensors", ("b", Values(1)), ("dup", Values(1)));
        WriteIndex($"{Base}.safetensors.index.json",
            new Dictionary<string, string> { ["a"] = "s1.safetensors", ["b"] = "s2.safetensors", ["dup"] = "s1.safetensors" });

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.TensorInTwoShards, error.Problem);
        Assert.Equal("dup", error.TensorName);
        Assert.Contains("s1.safetensors", error.Message);
        Assert.Contains("s2.safetensors", error.Message);
    }

    [Fact]
    public void Shard_tensor_missing_from_the_index_is_reported()
    {
        WriteFile("s1.safetensors", ("a", Values(1)), ("extra", Values(1)));
        WriteIndex($"{Base}.safetensors.index.json", new Dictionary<string, string> { ["a"] = "s1.safetensors" });

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.UnindexedTensor, error.Problem);
        Assert.Equal("extra", error.TensorName);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"metadata\":{}}")]
    [InlineData("{\"weight_map\":[]}")]
    [InlineData("{\"weight_map\":{}}")]
    [InlineData("{\"weight_map\":{\"a\":1}}")]
    [InlineData("{\"weight_map\":{\"a\":\"../s1.safetensors\"}}")]
    [InlineData("{\"weight_map\":{\"a\":\"/etc/passwd\"}}")]
    [InlineData("{\"weight_map\":{\"a\":\"..\"}}")]
    [InlineData("{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s1.safetensors\"}}")]
    [InlineData("{\"weight_map\":{\"a\":\"s1.safetensors\"},\"weight_map\":{}}")]
    [InlineData("{\"weight_map\":{\"a\":\"s1.safetensors\"}} trailing")]
    public void Malformed_index_is_reported(string json)
    {
        WriteFile("s1.safetensors", ("a", Values(1)));
        var indexPath = _dir.File($"{Base}.safetensors.index.json");
        File.WriteAllText(indexPath, json);

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.InvalidIndex, error.Problem);
        Assert.Equal(indexPath, error.FilePath);
        Assert.Contains(indexPath, error.Message);
    }

    [Fact]
    public void Invalid_shard_file_reports_the_shard()
    {
        WriteIndex($"{Base}.safetensors.index.json", new Dictionary<string, string> { ["a"] = "s1.safetensors" });
        File.WriteAllBytes(_dir.File("s1.safetensors"), new byte[5]);

        var error = Assert.Throws<SafeTensorsFormatException>(() => SafeTensorsSet.OpenComponent(_dir.Path, Base, null));

        Assert.Equal(SafeTensorsProblem.Truncated, error.Problem);
        Assert.EndsWith("s1.safetensors", error.FilePath);
    }

    [Fact]
    public void Unconvertible_dtype_is_a_clear_error()
    {
        var path = _dir.File("f8.safetensors");
        new SafeTensorsWriter()
            .Add("q", SafeTensorDType.F8E8M0, [4], new byte[4])
            .Add("f", SafeTensorDType.F32, [1], new byte[4])
            .Save(path);
        using var set = SafeTensorsSet.OpenFile(path);

        var error = Assert.Throws<AccelAesException>(() => set.ReadAsFloat32("q"));
        Assert.Contains("'q'", error.Message);
        Assert.Contains("F8_E8M0", error.Message);
        Assert.Throws<AccelAesException>(() => set.ReadAsInt64("f"));
        Assert.Equal(4, set.GetBytes(set.Get("q")).Length);
    }
}
