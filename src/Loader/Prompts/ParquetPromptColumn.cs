#if PARQUET
using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;
using Parquet;
using Parquet.Schema;

namespace AccelAes.Loader.Prompts;

/// <summary>
/// One string column of a Parquet file, such as the <c>caption</c> column of Pick-a-Pic's shards (which also hold
/// the images, hundreds of MB: only the column's pages are read, streamed from disk). Parquet.Net does the decoding:
/// fully managed (Snappy, Zstd, LZ4 in C#, no native library), so it runs wherever the engine does.
/// </summary>
internal static class ParquetPromptColumn
{
    public static List<string> Read(string path, string column, string what, string columnWhat)
    {
        string fullPath = InputFile.RequireRegularFile(path, what);
        try
        {
            return ReadAsync(fullPath, column, $"{what} '{path}'", columnWhat).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not AccelAesException and not OutOfMemoryException)
        {
            // Parquet.Net reports damage with several exception types (IOException, InvalidDataException, its own ParquetException, …).
            throw new AccelAesException($"{what} '{path}' is not a readable Parquet file: {e.Message}", e);
        }
    }

    private static async Task<List<string>> ReadAsync(string fullPath, string column, string what, string columnWhat)
    {
        await using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16);
        await using ParquetReader reader = await ParquetReader.CreateAsync(stream);
        DataField[] fields = reader.Schema.GetDataFields();
        DataField field = fields.FirstOrDefault(f => f.Name == column)
            ?? throw new AccelAesException($"{what} has no column '{column}' ({columnWhat}); its columns are: {string.Join(", ", fields.Select(f => $"'{f.Name}'"))}.");
        // A UTF-8 string column: Parquet.Net 6 types it as ReadOnlyMemory<char> in a schema read from a file.
        if (field.ClrType != typeof(string) && field.ClrType != typeof(ReadOnlyMemory<char>))
            throw new AccelAesException($"{what}: column '{column}' holds {field.ClrType.Name} values, not text; name the prompt column with {columnWhat}.");
        var prompts = new List<string>();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using ParquetRowGroupReader group = reader.OpenRowGroupReader(g);
            if (group.RowCount > InputLimits.MaxEvalPrompts - prompts.Count)
                throw new AccelAesException($"{what} holds more than {InputLimits.MaxEvalPrompts} rows; at most {InputLimits.MaxEvalPrompts} prompts are evaluated in one run.");
            var values = new string?[group.RowCount];
            await group.ReadAsync(field, values.AsMemory(), null);
            foreach (string? value in values)
                if (value?.Trim() is { Length: > 0 } prompt) prompts.Add(prompt);
        }
        return prompts;
    }
}
#endif
