using AccelAes.Loader.Prompts;
using AccelAes.TestSupport;

namespace AccelAes.Loader.Tests.Prompts;

public class PromptFileTests
{
    [Fact]
    public void A_text_file_gives_one_trimmed_prompt_per_non_blank_line()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("prompts.txt", "\uFEFFa cat \r\n\n  \r\na dog, running\n"u8.ToArray());
        Assert.Equal(["a cat", "a dog, running"], PromptFile.Read(path, null));
    }

    [Fact]
    public void A_csv_gives_the_caption_column_with_quoted_commas_quotes_and_newlines_intact()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("pickapic.csv", "id,caption,best_image_uid\n1,\"a cat, sitting\",x\n2,\"the \"\"best\"\" dog\",y\n3,\"two\nlines\",z\n4,,w\n"u8.ToArray());
        Assert.Equal(["a cat, sitting", "the \"best\" dog", "two\nlines"], PromptFile.Read(path, null));
    }

    [Fact]
    public void Another_column_is_read_when_named_and_a_tsv_splits_on_tabs()
    {
        using var dir = new TempDirectory();
        string csv = dir.Write("p.csv", "prompt,caption\nfirst,second\n"u8.ToArray());
        Assert.Equal(["first"], PromptFile.Read(csv, "prompt"));
        string tsv = dir.Write("p.tsv", "caption\tother\na, b\tc\n"u8.ToArray());
        Assert.Equal(["a, b"], PromptFile.Read(tsv, null));
    }

    [Fact]
    public void A_missing_column_is_named_with_the_columns_there_are()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("p.csv", "id,text\n1,a cat\n"u8.ToArray());
        var e = Assert.Throws<AccelAesException>(() => PromptFile.Read(path, null));
        Assert.Contains("no column 'caption'", e.Message);
        Assert.Contains("'text'", e.Message);
    }

    [Fact]
    public void A_file_without_prompts_and_a_column_for_a_text_file_are_errors()
    {
        using var dir = new TempDirectory();
        Assert.Contains("holds no prompts", Assert.Throws<AccelAesException>(() => PromptFile.Read(dir.Write("e.txt", "\n \n"u8.ToArray()), null)).Message);
        Assert.Contains("needs a CSV or Parquet file", Assert.Throws<AccelAesException>(() => PromptFile.Read(dir.Write("t.txt", "a\n"u8.ToArray()), "caption")).Message);
    }
}

public class ParquetPromptFileTests
{
    /// <summary>A Parquet file laid out as Pick-a-Pic's shards are: an id, the caption, and a binary image column, in two row groups.</summary>
    private static async Task<string> PickAPicLike(TempDirectory dir)
    {
        string path = dir.File("test-00000-of-00001.parquet");
        var id = new Parquet.Schema.DataField<int>("id");
        var caption = new Parquet.Schema.DataField<string>("caption");
        var image = new Parquet.Schema.DataField<byte[]>("jpg_0");
        var schema = new Parquet.Schema.ParquetSchema(id, caption, image);
        await using (var stream = File.Create(path))
        await using (var writer = await Parquet.ParquetWriter.CreateAsync(schema, stream))
        {
            foreach (var (ids, captions) in new[] { (new[] { 1, 2 }, new[] { "a cat, sitting", " " }), (new[] { 3 }, new[] { "  the \"best\" dog " }) })
            {
                using var group = writer.CreateRowGroup();
                await group.WriteAsync(id, (ReadOnlyMemory<int>)ids.AsMemory());
                await group.WriteAsync(caption, captions);
                await group.WriteAsync(image, captions.Select(_ => new byte[] { 0xFF, 0xD8 }).ToArray());
            }
        }
        return path;
    }

    [Fact]
    public async Task The_caption_column_of_every_row_group_is_read_trimmed_without_blanks()
    {
        using var dir = new TempDirectory();
        Assert.Equal(["a cat, sitting", "the \"best\" dog"], PromptFile.Read(await PickAPicLike(dir), null));
    }

    [Fact]
    public async Task A_missing_or_non_text_column_is_named()
    {
        using var dir = new TempDirectory();
        string path = await PickAPicLike(dir);
        var missing = Assert.Throws<AccelAesException>(() => PromptFile.Read(path, "prompt"));
        Assert.Contains("no column 'prompt'", missing.Message);
        Assert.Contains("'caption'", missing.Message);
        Assert.Contains("holds Int32 values, not text", Assert.Throws<AccelAesException>(() => PromptFile.Read(path, "id")).Message);
    }

    [Fact]
    public void A_damaged_parquet_file_is_a_user_error()
    {
        using var dir = new TempDirectory();
        string path = dir.Write("bad.parquet", "PAR1 not really"u8.ToArray());
        Assert.Contains("is not a readable Parquet file", Assert.Throws<AccelAesException>(() => PromptFile.Read(path, null)).Message);
    }
}
