namespace AccelAes.Engine.Acceleration;

/// <summary>
/// The spellings of one enum-valued knob, both ways: the canonical name each value is written as (run records,
/// <c>explain</c>) and the aliases <see cref="AccelerationOptions.With(string, string)"/> also accepts. One table per knob,
/// so a value can never be parsed under one name and written under another.
/// </summary>
public sealed class KnobVocabulary<T> where T : struct, Enum
{
    private readonly string _knob;
    private readonly (T Value, string Name, string[] Aliases)[] _entries;

    public KnobVocabulary(string knob, params (T Value, string Name, string[] Aliases)[] entries)
    {
        _knob = knob;
        _entries = entries;
    }

    /// <summary>The canonical names, as an error lists them: "a, b or c".</summary>
    public string Expected => _entries.Length == 1 ? _entries[0].Name
        : string.Join(", ", _entries[..^1].Select(e => e.Name)) + " or " + _entries[^1].Name;

    /// <summary>The value named <paramref name="text"/> (canonical name or alias, any case).</summary>
    /// <exception cref="AccelAesException">No value has that name; the message names the knob and the accepted names.</exception>
    public T Parse(string text) => TryParse(text) ?? throw new AccelAesException($"{_knob}: '{text}' is not valid; expected {Expected}.");

    /// <summary>The value named <paramref name="text"/> (canonical name or alias, any case, surrounding blanks ignored), or null.</summary>
    public T? TryParse(string? text)
    {
        string? name = text?.Trim();
        foreach (var entry in _entries)
        {
            if (string.Equals(entry.Name, name, StringComparison.OrdinalIgnoreCase) ||
                entry.Aliases.Any(a => string.Equals(a, name, StringComparison.OrdinalIgnoreCase)))
                return entry.Value;
        }
        return null;
    }

    /// <summary>The canonical name of <paramref name="value"/>.</summary>
    public string Name(T value) => _entries.First(e => EqualityComparer<T>.Default.Equals(e.Value, value)).Name;
}
