using Spectre.Console;

namespace AccelAes.Cli;

/// <summary>Console presentation shared by the commands (the engine itself never prints).</summary>
internal static class Ui
{
    public static void Heading(string text) => AnsiConsole.MarkupLineInterpolated($"[bold]{text}[/]");

    public static void Info(string text) => AnsiConsole.MarkupLineInterpolated($"{text}");

    public static void Warn(string text) => AnsiConsole.MarkupLineInterpolated($"[yellow]warning:[/] {text}");

    public static void Done(string text) => AnsiConsole.MarkupLineInterpolated($"[green]✓[/] {text}");

    public static Table Table(params string[] columns)
    {
        var table = new Table().Border(TableBorder.Rounded);
        foreach (string c in columns) table.AddColumn(new TableColumn(Markup.Escape(c)));
        return table;
    }

    public static void AddCells(this Table table, params object?[] cells)
        => table.AddRow(cells.Select(c => new Markup(Markup.Escape(c?.ToString() ?? ""))).ToArray());

    public static void Show(Table table) => AnsiConsole.Write(table);

    public static string Bytes(long bytes) => bytes switch
    {
        >= 1L << 30 => $"{bytes / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{bytes / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{bytes / 1024.0:F1} KiB",
        _ => $"{bytes} B",
    };

    public static string Shape(IEnumerable<long> dims) => "[" + string.Join(", ", dims) + "]";

    public static string Seconds(TimeSpan t) => t.TotalSeconds >= 1 ? $"{t.TotalSeconds:F2} s" : $"{t.TotalMilliseconds:F1} ms";
}
