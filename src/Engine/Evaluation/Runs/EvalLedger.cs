using System.Text;
using AccelAes.Loader.Files;

namespace AccelAes.Engine.Evaluation.Runs;

/// <summary>
/// The per-image JSONL of an evaluation, which is also its ledger: an image counts as finished when its line is in
/// the file, and a resumed run skips it. Each line is appended and flushed to disk after the image's PNG is in place,
/// so a kill leaves at most one cut line — which <see cref="Open"/> drops (the image is then generated again).
/// </summary>
public sealed class EvalLedger
{
    /// <summary>A ledger line is ~300 bytes: 1 GiB holds millions of images.</summary>
    private const long MaxLedgerBytes = 1L << 30;

    private readonly string _path;
    private readonly Dictionary<string, EvalRecord> _records = [];

    private EvalLedger(string path) => _path = path;

    /// <summary>Finished records, by key, in file order.</summary>
    public IReadOnlyDictionary<string, EvalRecord> Records => _records;

    /// <summary>Lines dropped by <see cref="Open"/>: cut or unreadable.</summary>
    public int DroppedLines { get; private set; }

    /// <summary>
    /// Opens the ledger at <paramref name="path"/>, creating it when absent. An existing file is read; lines that are
    /// not complete records are dropped and the file rewritten without them (atomically), so appends start on a clean line.
    /// </summary>
    public static EvalLedger Open(string path)
    {
        var ledger = new EvalLedger(path);
        if (!InputFile.Exists(path))
        {
            OutputFile.WriteAllBytes(path, "the eval JSONL", Array.Empty<byte>());
            return ledger;
        }
        string text = InputFile.ReadAllText(path, MaxLedgerBytes, "the eval JSONL");
        var kept = new StringBuilder();
        foreach (string line in text.Split('\n'))
        {
            if (line.Trim().Length == 0) continue;
            if (EvalRecord.TryParse(line) is { } record)
            {
                ledger._records[record.Key] = record;
                kept.Append(line.TrimEnd('\r')).Append('\n');
            }
            else ledger.DroppedLines++;
        }
        if (ledger.DroppedLines > 0 || (text.Length > 0 && !text.EndsWith('\n')))
            OutputFile.WriteAllBytes(path, "the eval JSONL", Encoding.UTF8.GetBytes(kept.ToString()));
        return ledger;
    }

    /// <summary>Appends <paramref name="record"/> and flushes it to disk.</summary>
    public void Append(EvalRecord record)
    {
        byte[] line = Encoding.UTF8.GetBytes(record.ToJsonLine() + "\n");
        using (var stream = new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read))
        {
            stream.Write(line);
            stream.Flush(flushToDisk: true);
        }
        _records[record.Key] = record;
    }
}
