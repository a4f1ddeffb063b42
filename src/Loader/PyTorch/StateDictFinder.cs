using System.Globalization;
using AccelAes.Loader.Validation;

namespace AccelAes.Loader.PyTorch;

/// <summary>
/// Finds the state dict in an unpickled checkpoint and names its tensors. A dict that holds tensors itself is the
/// state dict (tensors in dicts nested inside it get dotted names). Otherwise a training checkpoint wraps it:
/// <c>{"state_dict": …}</c>, <c>{"model": …, "optimizer": …}</c>; the first of the usual wrapper keys that holds
/// tensors is taken, else the only entry that holds tensors, else every tensor under its dotted path.
/// </summary>
internal static class StateDictFinder
{
    /// <summary>Wrapper keys of training checkpoints (Lightning, timm, open_clip, DeepSpeed, EMA exports), in order of preference.</summary>
    private static readonly string[] WrapperKeys =
        ["state_dict", "model_state_dict", "model", "module", "model_ema", "state_dict_ema", "ema", "params", "net"];

    internal sealed record NamedTensor(string Name, TorchTensor Tensor);

    internal static List<NamedTensor> Find(object? root, string path)
    {
        if (root is not PickleDict dict)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.NoTensors, path,
                $"the checkpoint holds a {Describe(root)}, not a state dict (a dict of tensors).");
        var chosen = Choose(dict, 0, path);
        var tensors = new List<NamedTensor>();
        Collect(chosen, "", tensors, new HashSet<object>(ReferenceEqualityComparer.Instance), 0, path);
        if (tensors.Count == 0)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.NoTensors, path,
                $"the checkpoint holds no tensors (its top-level keys: {string.Join(", ", dict.Entries.Take(10).Select(e => KeyText(e.Key)))}).");
        return tensors;
    }

    private static object Choose(PickleDict dict, int depth, string path)
    {
        CheckDepth(depth, path);
        if (dict.Entries.Any(e => e.Value is TorchTensor))
            return dict;
        foreach (var key in WrapperKeys)
            foreach (var entry in dict.Entries)
                if (entry.Key is string name && name == key && entry.Value is PickleDict inner
                    && HoldsTensors(inner, new HashSet<object>(ReferenceEqualityComparer.Instance), depth + 1, path))
                    return Choose(inner, depth + 1, path);
        var holders = dict.Entries.Where(e => e.Value is PickleDict or List<object?> or PickleTuple
            && HoldsTensors(e.Value, new HashSet<object>(ReferenceEqualityComparer.Instance), depth + 1, path)).ToList();
        return holders is [{ Value: PickleDict only }] ? Choose(only, depth + 1, path) : dict;
    }

    private static bool HoldsTensors(object? value, HashSet<object> seen, int depth, string path)
    {
        CheckDepth(depth, path);
        if (value is TorchTensor)
            return true;
        if (value is null || !IsContainer(value) || !seen.Add(value))
            return false;
        return Children(value).Any(child => HoldsTensors(child.Value, seen, depth + 1, path));
    }

    private static void Collect(object? value, string name, List<NamedTensor> into, HashSet<object> seen, int depth, string path)
    {
        CheckDepth(depth, path);
        if (value is TorchTensor tensor)
        {
            if (into.Count >= InputLimits.MaxCheckpointTensors)
                throw new PyTorchCheckpointException(PyTorchCheckpointProblem.LimitExceeded, path,
                    $"the checkpoint holds more than {InputLimits.MaxCheckpointTensors} tensors.");
            into.Add(new NamedTensor(name, tensor));
            return;
        }
        // Each container is walked once: shared or cyclic references (a list that holds itself) cannot multiply the walk.
        if (value is null || !IsContainer(value) || !seen.Add(value))
            return;
        foreach (var (key, child) in Children(value))
            Collect(child, name.Length == 0 ? key : $"{name}.{key}", into, seen, depth + 1, path);
    }

    private static bool IsContainer(object value) => value is PickleDict or List<object?> or PickleTuple;

    private static IEnumerable<(string Key, object? Value)> Children(object container) => container switch
    {
        PickleDict dict => dict.Entries.Select(e => (KeyText(e.Key), e.Value)),
        List<object?> list => list.Select((item, i) => (i.ToString(CultureInfo.InvariantCulture), item)),
        PickleTuple tuple => tuple.Items.Select((item, i) => (i.ToString(CultureInfo.InvariantCulture), item)),
        _ => [],
    };

    private static string KeyText(object? key) => key switch
    {
        string text => text,
        long number => number.ToString(CultureInfo.InvariantCulture),
        null => "None",
        _ => Convert.ToString(key, CultureInfo.InvariantCulture) ?? "?",
    };

    private static string Describe(object? value) => value switch
    {
        null => "None",
        TorchTensor => "single tensor",
        List<object?> => "list",
        PickleTuple => "tuple",
        _ => value.GetType().Name,
    };

    private static void CheckDepth(int depth, string path)
    {
        if (depth > InputLimits.MaxPickleNesting)
            throw new PyTorchCheckpointException(PyTorchCheckpointProblem.LimitExceeded, path,
                $"the checkpoint's containers nest more than {InputLimits.MaxPickleNesting} levels deep.");
    }
}
