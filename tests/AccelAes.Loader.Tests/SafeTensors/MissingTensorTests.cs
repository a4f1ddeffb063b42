using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class MissingTensorTests : IDisposable
{
    private static readonly string[] Sd3LikeNames =
    [
        "pos_embed.proj.weight", "pos_embed.proj.bias", "context_embedder.weight", "norm_out.linear.weight",
        .. Enumerable.Range(0, 12).SelectMany(i => new[]
        {
            $"transformer_blocks.{i}.attn.to_q.weight", $"transformer_blocks.{i}.attn.to_k.weight",
            $"transformer_blocks.{i}.attn.to_v.weight", $"transformer_blocks.{i}.attn.add_q_proj.weight",
            $"transformer_blocks.{i}.ff.net.0.proj.weight", $"transformer_blocks.{i}.norm1.linear.weight",
        }),
    ];

    private readonly TempDirectory _dir = new();
    private readonly SafeTensorsSet _set;

    public MissingTensorTests()
    {
        var writer = new SafeTensorsWriter();
        foreach (var name in Sd3LikeNames)
            writer.Add(name, SafeTensorDType.U8, [1], new byte[] { 1 });
        var path = _dir.File("model.safetensors");
        writer.Save(path);
        _set = SafeTensorsSet.OpenFile(path);
    }

    public void Dispose()
    {
        _set.Dispose();
        _dir.Dispose();
    }

    private MissingTensorException Missing(string name) => Assert.Throws<MissingTensorException>(() => _set.Get(name));

    [Fact]
    public void Typo_suggests_the_intended_name_first()
    {
        var error = Missing("transformer_blocks.3.attn.to_q.wieght");

        Assert.Equal("transformer_blocks.3.attn.to_q.weight", error.Suggestions[0]);
        Assert.InRange(error.Suggestions.Count, 1, 5);
        Assert.Equal("transformer_blocks.3.attn.to_q.wieght", error.TensorName);
        Assert.Equal(_set.Source, error.Checkpoint);
        Assert.Contains(_set.Source, error.Message);
        Assert.Contains("'transformer_blocks.3.attn.to_q.weight'", error.Message);
    }

    [Theory]
    [InlineData("model.diffusion_model.transformer_blocks.7.attn.to_q.weight", "transformer_blocks.7.attn.to_q.weight")]
    [InlineData("transfomer_blcks.7.attn.to_q.weight", "transformer_blocks.7.attn.to_q.weight")]
    [InlineData("joint_blocks.11.ff.net.0.proj.weight", "transformer_blocks.11.ff.net.0.proj.weight")]
    [InlineData("transformer_blocks.11.attn.to_q.weight.extra", "transformer_blocks.11.attn.to_q.weight")]
    public void Wrong_prefix_or_suffix_still_finds_the_tensor(string asked, string expected)
    {
        var error = Missing(asked);
        Assert.Contains(expected, error.Suggestions);
        Assert.True(error.Suggestions.Count <= 5);
    }

    [Fact]
    public void Empty_checkpoint_says_so()
    {
        var path = _dir.File("empty.safetensors");
        new SafeTensorsWriter().Save(path);
        using var empty = SafeTensorsSet.OpenFile(path);

        var error = Assert.Throws<MissingTensorException>(() => empty.Get("x"));

        Assert.Empty(error.Suggestions);
        Assert.Contains("no tensors", error.Message);
    }

    [Fact]
    public async Task Suggestions_stay_bounded_for_a_huge_hostile_name_list()
    {
        // Past the edit-distance cap, so the last name can only be found by its shared prefix.
        var names = Enumerable.Range(0, 40_000).Select(i => new string((char)('a' + i % 26), 300) + i).Append("needle.weight");

        var task = Task.Run(() => TensorNameSuggestions.Closest("needle.weigth", names));

        Assert.Same(task, await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(30))));
        Assert.Contains("needle.weight", await task);
    }

    [Fact]
    public void Edit_distance_is_the_levenshtein_distance()
    {
        Assert.Equal(0, TensorNameSuggestions.EditDistance("abc", "abc"));
        Assert.Equal(3, TensorNameSuggestions.EditDistance("kitten", "sitting"));
        Assert.Equal(5, TensorNameSuggestions.EditDistance("", "hello"));
        Assert.Equal(2, TensorNameSuggestions.EditDistance("weight", "weigth"));
    }
}
