using System.Globalization;
using AccelAes.Engine.Acceleration;

namespace AccelAes.Engine.Evaluation.Runs;

/// <summary>One method of an evaluation: the `--accel` preset it is named after and the request it runs.</summary>
public sealed record EvalMethod(string Name, AccelerationRequest Acceleration)
{
    /// <summary>The dense baseline every method is paired with.</summary>
    public const string Dense = "none";

    public bool IsDense => Name == Dense;
}

/// <summary>One image of an evaluation: a prompt (by its index in the prompt list), a seed and a method.</summary>
public sealed record EvalItem(int PromptIndex, string Prompt, ulong Seed, EvalMethod Method)
{
    /// <summary>The ledger key: unique per image of a run, stable across resumes.</summary>
    public string Key => KeyOf(PromptIndex, Seed, Method.Name);

    /// <summary>The image's path under the output folder, named as the AccelAes scripts name theirs (p0003_s0001.png), one folder per method.</summary>
    public string ImagePath => Path.Combine("images", Method.Name, string.Create(CultureInfo.InvariantCulture, $"p{PromptIndex:D4}_s{Seed:D4}.png"));

    public static string KeyOf(int promptIndex, ulong seed, string method) =>
        string.Create(CultureInfo.InvariantCulture, $"p{promptIndex}/s{seed}/{method}");
}

/// <summary>
/// The images of an evaluation in the order they are generated: per prompt, per seed, the dense image first, so
/// each accelerated image is compared with its dense one as soon as it exists.
/// </summary>
public static class EvalPlan
{
    public static IReadOnlyList<EvalItem> Items(IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, IReadOnlyList<EvalMethod> methods)
    {
        var ordered = methods.Where(m => m.IsDense).Concat(methods.Where(m => !m.IsDense)).ToArray();
        var items = new List<EvalItem>(prompts.Count * seeds.Count * ordered.Length);
        for (int p = 0; p < prompts.Count; p++)
            foreach (ulong seed in seeds)
                foreach (EvalMethod method in ordered)
                    items.Add(new EvalItem(p, prompts[p], seed, method));
        return items;
    }
}
