namespace AccelAes.Cli.Tests.Fuzz;

/// <summary>
/// The folder one case runs in, and every path its arguments may name. The child runs in <see cref="WorkingDirectory"/>
/// (so "image.png" and "../x" stay inside <see cref="Root"/>); the fixtures beside it are what careless paths hit:
/// a plain file, folders empty and not, a FIFO, a symlink loop. Hostile paths never name a real system file that
/// could be written: the tests run as root, and a broken output check would replace it.
/// </summary>
internal sealed class CaseWorkspace
{
    private readonly string _pristineModels;
    private readonly List<string> _fileOutputs = [], _folderOutputs = [], _inputs = [];

    public CaseWorkspace(string root, string pristineModels)
    {
        Root = root;
        _pristineModels = pristineModels;
        WorkingDirectory = Path.Combine(root, "work");
        Directory.CreateDirectory(WorkingDirectory);
        File.WriteAllText(PlainFile, "not a model\n");
        Directory.CreateDirectory(FullFolder);
        File.WriteAllText(Path.Combine(FullFolder, "keep.txt"), "keep me\n");
        Directory.CreateDirectory(EmptyFolder);
        SpecialFiles.Fifo(Fifo);
        SpecialFiles.SelfLoop(Loop);
    }

    public string Root { get; }
    public string WorkingDirectory { get; }
    public string PlainFile => Path.Combine(Root, "plain.txt");
    public string FullFolder => Path.Combine(Root, "full");
    public string EmptyFolder => Path.Combine(Root, "empty");
    public string Fifo => Path.Combine(Root, "fifo");
    public string Loop => Path.Combine(Root, "loop");

    public IReadOnlyList<string> FileOutputs => _fileOutputs;
    public IReadOnlyList<string> FolderOutputs => _folderOutputs;
    public IReadOnlyList<string> Inputs => _inputs;

    /// <summary>The untouched tiny model <paramref name="arch"/>, shared by all cases: read it, never hand it to a run.</summary>
    public string PristineModel(string arch) => Path.Combine(_pristineModels, arch);

    /// <summary>A copy of the tiny model <paramref name="arch"/> (sd3, flux, lumina-next) under <paramref name="name"/>, made once per name.</summary>
    public string Model(string arch, string name = "model")
    {
        string folder = Path.Combine(Root, name);
        if (!Directory.Exists(folder)) CopyTree(PristineModel(arch), folder);
        return folder;
    }

    private static void CopyTree(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
        foreach (string d in Directory.GetDirectories(from)) CopyTree(d, Path.Combine(to, Path.GetFileName(d)));
    }

    /// <summary>Whether <paramref name="path"/> (absolute or relative to the working directory) lies inside <see cref="Root"/>.</summary>
    public bool Contains(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) return false;
        string full = Path.GetFullPath(path, WorkingDirectory);
        return full.StartsWith(Root + "/", StringComparison.Ordinal);
    }

    /// <summary>Records <paramref name="path"/> as read by the run (it must come out unchanged) and returns it.</summary>
    public string Input(string path)
    {
        _inputs.Add(path);
        return path;
    }

    public string FileOutput(string path)
    {
        _fileOutputs.Add(path);
        return path;
    }

    public string FolderOutput(string path)
    {
        _folderOutputs.Add(path);
        return path;
    }

    /// <summary>
    /// A fresh name for a file the run writes, relative or absolute, sometimes in a folder that does not exist yet
    /// (not for safetensors: their writer, unlike the PNG and JSON ones, does not create folders).
    /// </summary>
    public string NewOutputFile(FuzzDraw draw, string extension) => draw.Int(0, extension == ".safetensors" ? 2 : 4) switch
    {
        0 => $"out{draw.Int(0, 1000)}{extension}",
        1 => Path.Combine(Root, $"out{draw.Int(0, 1000)}{extension}"),
        2 => Path.Combine("sub", $"deeper{draw.Int(0, 1000)}", $"out{extension}"),
        _ => Path.Combine(Root, $"new-folder{draw.Int(0, 1000)}", $"out{extension}"),
    };

    /// <summary>Paths that should be refused as an output file (or, for the pseudo file systems, cannot be created).</summary>
    public string[] HostileOutputs(string extension) =>
    [
        "", " ", Root, WorkingDirectory + "/", FullFolder, EmptyFolder, "full", Fifo, Loop,
        Path.Combine(PlainFile, "x" + extension), Path.Combine(Fifo, "x" + extension), PlainFile,
        "/proc/accelaes-fuzz" + extension, "/sys/accelaes-fuzz" + extension, "/proc/accelaes-fuzz/x" + extension,
        new string('n', 300) + extension, Path.Combine(Root, string.Concat(Enumerable.Repeat("d/", 2000)) + "x" + extension),
        "../x" + extension, "猫 " + extension, "-dash" + extension, "." , "..",
    ];

    /// <summary>Paths that should be refused as an input file or model folder.</summary>
    public string[] HostileInputs() =>
    [
        "", " ", "missing", Path.Combine(Root, "missing", "x"), PlainFile, FullFolder, EmptyFolder, Fifo, Loop,
        Path.Combine(PlainFile, "x"), "/proc/self/status", "/proc/accelaes-fuzz", "/dev/zero", "/", "/proc",
        new string('n', 300), "..", ".", "-",
    ];
}
