using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Tokenizers;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>Counts and ids a tokenizer or config file claims are bounded (or type-checked) before anything is built from them.</summary>
public sealed class ClaimedCountTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Huge_extra_ids_are_refused_before_any_sentinel_is_made()
    {
        TempDirectory.WriteText(_dir.Path, "tokenizer_config.json", "{\"extra_ids\": 100000000}");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var e = Assert.Throws<TokenizerException>(() => TokenizerFolderConfig.Read(_dir.Path));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Contains("extra_ids is 100000000", e.Message);
        Assert.Contains(InputLimits.MaxExtraIds.ToString(), e.Message);
    }

    [Theory]
    [InlineData("\"five\"")]
    [InlineData("1.5")]
    [InlineData("null")]
    [InlineData("99999999999")]
    public void A_vocab_id_that_is_not_an_integer_names_the_file_and_the_entry(string id)
    {
        string vocab = _dir.Write("vocab.json", System.Text.Encoding.UTF8.GetBytes($"{{\"a\": 0, \"b</w>\": {id}}}"));
        var e = Assert.Throws<TokenizerException>(() => ClipTokenizer.ReadVocab(vocab));
        Assert.Contains(vocab, e.Message);
        Assert.Contains("token 'b</w>' has id " + id, e.Message);
    }

    [Fact]
    public void An_added_token_id_that_is_not_an_integer_names_the_file_and_the_entry()
    {
        TempDirectory.WriteText(_dir.Path, "added_tokens.json", "{\"<x>\": \"7\"}");
        var e = Assert.Throws<TokenizerException>(() => TokenizerFolderConfig.Read(_dir.Path));
        Assert.Contains("added_tokens.json", e.Message);
        Assert.Contains("token '<x>' has id \"7\"", e.Message);
    }

    [Fact]
    public void A_config_integer_beyond_the_bound_is_refused_naming_the_field()
    {
        var config = JsonConfig.Parse("transformer/config.json", "{\"num_layers\": 1000000000, \"sample_size\": [64, 2000000]}");
        var e = Assert.Throws<ConfigException>(() => config.GetInt("num_layers"));
        Assert.Equal("num_layers", e.Field);
        Assert.Contains("1000000000", e.Message);
        Assert.Equal("sample_size", Assert.Throws<ConfigException>(() => config.GetIntArray("sample_size")).Field);
        Assert.Equal(InputLimits.MaxConfigDimension, JsonConfig.Parse("c.json", $"{{\"n\": {InputLimits.MaxConfigDimension}}}").GetInt("n"));
    }

    [Fact]
    public void A_tokenizer_config_over_the_config_limit_is_refused_naming_it()
    {
        string path = _dir.Write("tokenizer_config.json", new byte[InputLimits.MaxConfigFileBytes + 1]);
        var e = Assert.Throws<AccelAes.Loader.Files.InputFileException>(() => TokenizerFolderConfig.Read(_dir.Path));
        Assert.Contains(path, e.Message);
        Assert.Contains($"{InputLimits.MaxConfigFileBytes}-byte limit", e.Message);
    }
}
