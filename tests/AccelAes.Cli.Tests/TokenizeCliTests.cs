using System.Text.RegularExpressions;

namespace AccelAes.Cli.Tests;

/// <summary>`accelaes tokenize`: the ids, mask and tokens each pipeline feeds its encoders, and the truncation warning.</summary>
public class TokenizeCliTests(CliCache cache) : IClassFixture<CliCache>
{
    /// <summary>The integers of a printed "name: [a, b, …]" line.</summary>
    private static int[] List(string output, string name)
    {
        Match m = Regex.Match(output, $@"^{name}: \[([^\]]*)\]", RegexOptions.Multiline);
        Assert.True(m.Success, $"no '{name}:' line in:\n{output}");
        return m.Groups[1].Value.Split(", ", StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
    }

    /// <summary>
    /// The built-in model's byte-level CLIP vocabulary: printable ASCII byte b is id b − '!' (GPT-2 byte order), the
    /// last byte of a word is the same + 256 (with &lt;/w&gt;); &lt;|startoftext|&gt; 512, &lt;|endoftext|&gt; 513.
    /// </summary>
    private static int Byte(char c, bool endOfWord = false) => c - '!' + (endOfWord ? 256 : 0);

    [Fact]
    public void The_built_in_model_prints_the_sd3_clip_call_ids()
    {
        var r = cache.Run("tokenize", "--prompt", "A cat");
        Assert.True(r.ExitCode == 0, r.All);
        // SD3 _get_clip_prompt_embeds: lower-cased by CLIP, padding="max_length", max_length=77, padded with <|endoftext|>.
        int[] expected = [512, Byte('a', true), Byte('c'), Byte('a'), Byte('t', true), 513, .. Enumerable.Repeat(513, 71)];
        Assert.Equal(expected, List(r.Output, "input_ids"));
        Assert.Equal([.. Enumerable.Repeat(1, 6), .. Enumerable.Repeat(0, 71)], List(r.Output, "attention_mask"));
        Assert.Contains("tokens: [\"<|startoftext|>\", \"a</w>\", \"c\", \"a\", \"t</w>\", \"<|endoftext|>\"", r.Output);
        Assert.DoesNotContain("warning", r.All);
    }

    [Fact]
    public void Tokenizer_2_of_sd3_pads_with_its_own_pad_token()
    {
        var r = cache.Run("tokenize", "--component", "tokenizer_2", "--prompt", "A cat");
        Assert.True(r.ExitCode == 0, r.All);
        int[] ids = List(r.Output, "input_ids");
        Assert.Equal(77, ids.Length);
        Assert.Equal(513, ids[5]);
        Assert.All(ids[6..], id => Assert.Equal(Byte('!'), id)); // SD3's tokenizer_2 pads with "!"
    }

    [Fact]
    public void An_over_long_prompt_is_cut_to_77_with_a_warning()
    {
        string prompt = string.Join(" ", Enumerable.Repeat("abcdefghi", 10)); // 90 byte tokens
        var r = cache.Run("tokenize", "--prompt", prompt);
        Assert.True(r.ExitCode == 0, r.All);
        int[] ids = List(r.Output, "input_ids");
        Assert.Equal(77, ids.Length);
        Assert.Equal(513, ids[^1]); // the end-of-text token is kept
        string all = CliCache.Flat(r.All);
        Assert.Contains("warning:", all);
        Assert.Contains("tokenizer (CLIP-L)", all);
        Assert.Contains("15 of its 92 tokens were dropped", all);
    }

    [Fact]
    public void Each_pipeline_component_uses_its_pipelines_call()
    {
        using var dir = new TempDirectory();
        string lumina = cache.MakeTiny("lumina-next", dir);
        // Lumina lower-cases and strips the prompt, pads to a multiple of 8.
        var upper = cache.Run("tokenize", "--model", lumina, "--prompt", "  A CAT on a MAT ");
        var lower = cache.Run("tokenize", "--model", lumina, "--prompt", "a cat on a mat");
        Assert.True(upper.ExitCode == 0, upper.All);
        int[] ids = List(upper.Output, "input_ids");
        Assert.Equal(List(lower.Output, "input_ids"), ids);
        Assert.Equal(0, ids.Length % 8);
        Assert.Equal(2, ids[0]); // <bos>
        Assert.Contains("\"<pad>\"", upper.Output);

        string flux = cache.MakeTiny("flux", dir);
        var t5 = cache.Run("tokenize", "--model", flux, "--component", "tokenizer_2", "--prompt", "a cat");
        Assert.True(t5.ExitCode == 0, t5.All);
        int[] t5Ids = List(t5.Output, "input_ids");
        Assert.Equal(512, t5Ids.Length); // FLUX's max_sequence_length
        Assert.Equal(1, t5Ids[List(t5.Output, "attention_mask").Sum() - 1]); // </s>
        var shorter = cache.Run("tokenize", "--model", flux, "--component", "tokenizer_2", "--prompt", "a cat", "--max-length", "16");
        Assert.Equal(16, List(shorter.Output, "input_ids").Length);
    }

    [Fact]
    public void A_lone_tokenizer_folder_is_called_as_its_kind_is()
    {
        using var dir = new TempDirectory();
        string lumina = cache.MakeTiny("lumina-next", dir);
        var r = cache.Run("tokenize", "--model", Path.Combine(lumina, "tokenizer"), "--prompt", "  A CAT ");
        Assert.True(r.ExitCode == 0, r.All);
        Assert.Equal(List(cache.Run("tokenize", "--model", lumina, "--prompt", "a cat").Output, "input_ids"), List(r.Output, "input_ids"));

        var withComponent = cache.Run("tokenize", "--model", Path.Combine(lumina, "tokenizer"), "--component", "tokenizer_2", "--prompt", "x");
        Assert.Equal(1, withComponent.ExitCode);
        Assert.Contains("--component", CliCache.Flat(withComponent.All));
    }

    [Fact]
    public void A_component_the_pipeline_lacks_is_a_user_error_naming_it()
    {
        var r = cache.Run("tokenize", "--component", "tokenizer_3", "--prompt", "x"); // the built-in SD3 has no T5
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'tokenizer_3'", CliCache.Flat(r.All));
    }
}
