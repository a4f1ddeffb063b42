using AccelAes.Loader.Files;
using AccelAes.Loader.Validation;
using nietras.SeparatedValues;

namespace AccelAes.Loader.Prompts;

/// <summary>
/// The prompts of an evaluation, read from a file: a Parquet file (<c>.parquet</c>, Pick-a-Pic's format) or a CSV
/// (<c>.csv</c>, or <c>.tsv</c> tab-separated) with a header row, one prompt a row from the named column (Pick-a-Pic's
/// <c>caption</c> by default), or plain text, one prompt a line. Blank prompts are skipped and the rest trimmed, as the AccelAes evaluation script reads its prompt files.
/// CSV parsing is Sep's (RFC 4180 quoting, multi-line quoted fields; AOT and trimming safe, no reflection), not a
/// hand-written splitter: captions carry commas and quotes.
/// </summary>
public static class PromptFile
{
    /// <summary>The column a CSV's prompts are read from unless another is named: Pick-a-Pic's.</summary>
    public const string DefaultColumn = "caption";

    /// <summary>The prompts in <paramref name="path"/>; <paramref name="what"/> and <paramref name="columnWhat"/> name the options in messages.</summary>
    /// <exception cref="AccelAesException">Not a regular file, too large, no such column, no prompts, or more than <see cref="InputLimits.MaxEvalPrompts"/>.</exception>
    public static IReadOnlyList<string> Read(string path, string? column, string what = "--prompts", string columnWhat = "--prompt-column")
    {
        string extension = Path.GetExtension(path).ToLowerInvariant();
        List<string> prompts;
        if (extension == ".parquet")
#if PARQUET
            prompts = ParquetPromptColumn.Read(path, column ?? DefaultColumn, what, columnWhat);
#else
            throw new AccelAesException($"{what} '{path}': this NativeAOT build of accelaes does not read Parquet files (Parquet.Net is not trim-safe); "
                + "run the .NET build (dotnet accelaes.dll), or export the prompt column to CSV.");
#endif
        else if (extension is ".csv" or ".tsv")
            prompts = ReadColumn(Text(path, what), extension == ".tsv" ? '\t' : ',', column ?? DefaultColumn, path, what, columnWhat);
        else
        {
            string text = Text(path, what);
            if (column is not null)
                throw new AccelAesException($"{columnWhat} '{column}' needs a CSV or Parquet file (.csv, .tsv, .parquet); {what} '{path}' is read as plain text, one prompt a line.");
            prompts = [.. text.Split('\n').Select(line => line.Trim()).Where(line => line.Length > 0)];
        }
        if (prompts.Count == 0)
            throw new AccelAesException($"{what} '{path}' holds no prompts.");
        if (prompts.Count > InputLimits.MaxEvalPrompts)
            throw new AccelAesException($"{what} '{path}' holds {prompts.Count} prompts; at most {InputLimits.MaxEvalPrompts} are evaluated in one run.");
        return prompts;
    }

    private static string Text(string path, string what) => InputFile.ReadAllText(path, InputLimits.MaxPromptFileBytes, what);

    private static List<string> ReadColumn(string text, char separator, string column, string path, string what, string columnWhat)
    {
        var prompts = new List<string>();
        try
        {
            using var reader = Sep.New(separator).Reader(o => o with { Unescape = true }).FromText(text);
            IReadOnlyList<string> names = reader.Header.ColNames;
            int index = -1;
            for (int i = 0; i < names.Count; i++)
                if (names[i].Trim() == column) index = i;
            if (index < 0)
                throw new AccelAesException(
                    $"{what} '{path}' has no column '{column}' ({columnWhat}); its columns are: {string.Join(", ", names.Select(n => $"'{n}'"))}.");
            foreach (var row in reader)
            {
                if (index >= row.ColCount) continue;
                string prompt = row[index].ToString().Trim();
                if (prompt.Length > 0) prompts.Add(prompt);
                if (prompts.Count > InputLimits.MaxEvalPrompts) break;
            }
        }
        catch (InvalidDataException e)
        {
            throw new AccelAesException($"{what} '{path}' is not a valid CSV file: {e.Message}", e);
        }
        return prompts;
    }
}
