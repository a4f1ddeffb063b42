namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// Breaks a copy of a model folder the way disks, downloads, scripts and attackers do: files and folders deleted,
/// truncated, emptied, replaced by a FIFO, a symlink loop, a folder or a link to an endless device; config values
/// made hostile; safetensors headers edited. Only files still regular are picked again, so the mutator itself
/// never opens a FIFO.
/// </summary>
internal sealed class ModelFolderMutator
{
    private readonly string _folder;
    private readonly List<string> _regularFiles;
    private readonly string[] _focus;

    /// <param name="focus">The components the command reads most (forward: the transformer): most mutations go to their files or the folder's own.</param>
    public ModelFolderMutator(string folder, params string[] focus)
    {
        _folder = folder;
        _focus = focus;
        _regularFiles = [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)];
    }

    /// <summary>Applies one random mutation; returns what it did.</summary>
    public string Mutate(FuzzDraw draw)
    {
        if (_regularFiles.Count == 0) return "(nothing left to mutate)";
        int kind = draw.Int(0, 14);
        string file = kind switch
        {
            // Config and safetensors edits want their own file types; the rest take any file.
            7 or 8 => PickOr(draw, f => f.EndsWith(".json", StringComparison.Ordinal)),
            9 or 10 or 11 => PickOr(draw, f => f.EndsWith(".safetensors", StringComparison.Ordinal)),
            _ => PickOr(draw, _ => true),
        };
        switch (kind)
        {
            case 0:
                Forget(file);
                File.Delete(file);
                return $"deleted {file}";
            case 1:
            {
                string component = Path.GetDirectoryName(file)!;
                if (component == _folder) goto case 0;
                _regularFiles.RemoveAll(f => f.StartsWith(component + "/", StringComparison.Ordinal));
                Directory.Delete(component, recursive: true);
                return $"deleted folder {component}";
            }
            case 2:
            {
                long length = new FileInfo(file).Length;
                long keep = length == 0 ? 0 : draw.Int(0, (int)Math.Min(length, int.MaxValue));
                using (var s = new FileStream(file, FileMode.Open)) s.SetLength(keep);
                return $"truncated {file} to {keep} of {length} bytes";
            }
            case 3:
                File.WriteAllBytes(file, []);
                return $"emptied {file}";
            case 4:
                Forget(file);
                File.Delete(file);
                SpecialFiles.Fifo(file);
                return $"replaced {file} by a FIFO";
            case 5:
                Forget(file);
                File.Delete(file);
                SpecialFiles.SelfLoop(file);
                return $"replaced {file} by a symlink loop";
            case 6:
                Forget(file);
                File.Delete(file);
                Directory.CreateDirectory(file);
                File.WriteAllText(Path.Combine(file, "inside.txt"), "a folder where a file should be\n");
                return $"replaced {file} by a folder";
            case 7:
                return JsonConfigMutator.ReplaceValue(file, draw) ?? $"{file}: not JSON, left as is";
            case 8:
                return JsonConfigMutator.ReplaceDocument(file, draw);
            case 9 or 10 or 11:
                return SafeTensorsSurgery.Mutate(file, draw);
            case 12:
            {
                // A folder where a whole component should be a folder: replaced by a plain file.
                string component = Path.GetDirectoryName(file)!;
                if (component == _folder) goto case 3;
                _regularFiles.RemoveAll(f => f.StartsWith(component + "/", StringComparison.Ordinal));
                Directory.Delete(component, recursive: true);
                File.WriteAllText(component, "a file where a folder should be\n");
                return $"replaced folder {component} by a file";
            }
            default:
                // Reading this as a config or tokenizer file never ends (the test caps the child's heap, so it cannot take the machine down).
                Forget(file);
                File.Delete(file);
                File.CreateSymbolicLink(file, "/dev/zero");
                return $"replaced {file} by a symlink to /dev/zero";
        }
    }

    /// <summary>A file <paramref name="wanted"/> takes, in the focus most of the time; any file when none matches.</summary>
    private string PickOr(FuzzDraw draw, Func<string, bool> wanted)
    {
        var matching = _regularFiles.Where(wanted).ToList();
        if (matching.Count == 0) return draw.PickFrom(_regularFiles);
        var focused = matching.Where(InFocus).ToList();
        return focused.Count > 0 && draw.Chance(0.7) ? draw.PickFrom(focused) : draw.PickFrom(matching);
    }

    private bool InFocus(string file)
    {
        string folder = Path.GetDirectoryName(file)!;
        return folder == _folder || _focus.Contains(Path.GetFileName(folder));
    }

    private void Forget(string file) => _regularFiles.Remove(file);
}
