using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Components;

/// <summary>
/// The shape a named input must have, written as the docs write it: <c>"[B, 16, H, W]"</c>. A dimension is a number
/// (fixed by the config), a name (a size shared by every input of one call: the first input that has it fixes it, the
/// others must agree), or <c>*</c> (any size). Alternatives are separated by <c>|</c>: <c>"[] | [1] | [B]"</c> is a
/// timestep given as a scalar, a single value or one per batch item. Checking every input against its pattern before a
/// forward runs lets errors name the tensor the user passed and the size it disagrees with, instead of whatever
/// internal tensor a model would first trip over (a CFG-doubled batch, a timestep broadcast to a mis-read batch).
/// </summary>
public sealed class InputShape
{
    private readonly IReadOnlyList<IReadOnlyList<string>> _alternatives;

    private InputShape(string text, IReadOnlyList<IReadOnlyList<string>> alternatives)
    {
        Text = text;
        _alternatives = alternatives;
    }

    /// <summary>The pattern for messages: "[B, 16, H, W]", "[] or [1] or [B]".</summary>
    public string Text { get; }

    /// <summary>Parses a pattern; a malformed one is a bug in the component that declares it.</summary>
    public static InputShape Parse(string text)
    {
        var alternatives = new List<IReadOnlyList<string>>();
        foreach (string part in text.Split('|'))
        {
            string p = part.Trim();
            if (p.Length < 2 || p[0] != '[' || p[^1] != ']')
                throw new ArgumentException($"Shape pattern '{text}': '{p}' is not of the form [d0, d1, …].");
            string inner = p[1..^1].Trim();
            string[] dims = inner.Length == 0 ? [] : inner.Split(',').Select(d => d.Trim()).ToArray();
            foreach (string d in dims)
                if (d.Length == 0 || !(d == "*" || int.TryParse(d, out _) || d.All(c => char.IsLetterOrDigit(c) || c == '_') && char.IsLetter(d[0])))
                    throw new ArgumentException($"Shape pattern '{text}': dimension '{d}' is not a number, a name or *.");
            alternatives.Add(dims);
        }
        return new InputShape(string.Join(" or ", alternatives.Select(a => "[" + string.Join(", ", a) + "]")), alternatives);
    }

    /// <summary>
    /// Checks <paramref name="shape"/> against the pattern. <paramref name="sizes"/> holds the named sizes fixed so far
    /// (name → size, and the input that fixed it, as "'latents' [1, 16, 8, 8]"); a match adds the names it fixes, as
    /// fixed by <paramref name="source"/>. Returns null on a match, else what the pattern wanted with the sizes it was
    /// held to, for the error.
    /// </summary>
    internal string? Match(Shape shape, string source, Dictionary<string, (int Size, string Source)> sizes)
    {
        foreach (var dims in _alternatives)
        {
            if (dims.Count != shape.Rank) continue;
            var fixedHere = new Dictionary<string, int>(StringComparer.Ordinal);
            bool ok = true;
            for (int i = 0; i < dims.Count && ok; i++)
            {
                string d = dims[i];
                int actual = shape[i];
                if (d == "*") continue;
                if (int.TryParse(d, out int number)) ok = actual == number;
                else if (sizes.TryGetValue(d, out var known)) ok = actual == known.Size;
                else if (fixedHere.TryGetValue(d, out int here)) ok = actual == here;
                else fixedHere[d] = actual;
            }
            if (!ok) continue;
            foreach (var (name, size) in fixedHere) sizes[name] = (size, source);
            return null;
        }
        var held = _alternatives.SelectMany(a => a).Distinct().Where(sizes.ContainsKey)
            .Select(n => $"{n} = {sizes[n].Size} as in {sizes[n].Source}").ToList();
        return held.Count == 0 ? Text : $"{Text}, where {string.Join(" and ", held)}";
    }
}
