using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace AccelAes.Kernels.Compilation;

/// <summary>
/// Runs NVRTC compilations that invoke ptxas (real <c>sm_XX</c> targets) in a child process, so a compiler crash
/// — NVRTC 11.8's ptxas overflows its stack on some sm_90 inputs, and a stack overflow cannot be caught in .NET —
/// becomes a <see cref="KernelCompilerCrashException"/> naming the kernel, the target and the NVRTC version,
/// instead of killing the engine. The child is this same program started again with <see cref="CommandName"/>
/// (a host that embeds the engine and cannot start itself has no isolation; <see cref="CompilerHazards"/> still
/// keeps it off the known crashes).
/// </summary>
/// <remarks>
/// Protocol: the parent writes a request file (format line, source file name, target, cache key, one NVRTC option
/// per line); the child compiles the embedded source of that name, checks that the key it computes equals the
/// parent's (same sources, same options, same NVRTC), writes a <see cref="KernelCache"/> entry to
/// <c>request.kmod</c> and exits 0, or writes the NVRTC status and log to <c>request.log</c> and exits 1. Any
/// other ending is a crash. Results of a successful child still go to the parent's on-disk cache, so each
/// (source, target) pays the extra process start (~0.1 s for the NativeAOT binary) once.
/// </remarks>
public sealed class ChildProcessCompilation
{
    /// <summary>The hidden command of the <c>accelaes</c> program that serves one request.</summary>
    public const string CommandName = "__compile-kernel";

    private const string RequestFormat = "accelaes-compile-request 1";

    public ChildProcessCompilation(string executable, IReadOnlyList<string> argumentsBefore)
    {
        Executable = executable;
        ArgumentsBefore = argumentsBefore;
    }

    /// <summary>The program started for each compile.</summary>
    public string Executable { get; }

    /// <summary>Arguments before <see cref="CommandName"/> (the .dll when the program runs under <c>dotnet</c>).</summary>
    public IReadOnlyList<string> ArgumentsBefore { get; }

    /// <summary>How long one compile may take before the child is killed and the compile reported as hung.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The way to start the current program again: the NativeAOT binary itself, or <c>dotnet</c> with the entry
    /// assembly. Null when there is no program file to start (then compiles run in-process).
    /// </summary>
    public static ChildProcessCompilation? ForCurrentProcess()
    {
        var process = Environment.ProcessPath;
        if (string.IsNullOrEmpty(process))
            return null;
        var host = Path.GetFileNameWithoutExtension(process);
        if (host.Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            // Under `dotnet app.dll` the program to start again is the entry assembly, next to this one.
            var name = System.Reflection.Assembly.GetEntryAssembly()?.GetName().Name;
            var entry = name is null ? null : Path.Combine(AppContext.BaseDirectory, name + ".dll");
            return entry is null || !File.Exists(entry) ? null : new ChildProcessCompilation(process, [entry]);
        }
        return new ChildProcessCompilation(process, []);
    }

    /// <summary>True when <paramref name="source"/> and <paramref name="headers"/> are the embedded ones (the only ones a child has).</summary>
    internal static bool CanCompile(KernelSource source, IReadOnlyList<KernelSource> headers)
    {
        var embedded = KernelSources.Files.FirstOrDefault(f => f.FileName == source.FileName);
        if (embedded is null || embedded.Text != source.Text)
            return false;
        var own = KernelSources.Headers;
        return own.Count == headers.Count && own.All(h => headers.Any(x => x.FileName == h.FileName && x.Text == h.Text));
    }

    /// <summary>Compiles in a child process; throws <see cref="KernelCompileException"/> (NVRTC refused) or <see cref="KernelCompilerCrashException"/>.</summary>
    internal KernelCache.Entry Compile(KernelSource source, GpuArchitecture architecture, IReadOnlyList<string> nvrtcOptions, string key, string nvrtcVersion)
    {
        var folder = Directory.CreateTempSubdirectory("accelaes-compile-");
        try
        {
            var request = Path.Combine(folder.FullName, "request.txt");
            var lines = new List<string> { RequestFormat, source.FileName, architecture.ToString(), key };
            lines.AddRange(nvrtcOptions);
            File.WriteAllLines(request, lines);

            var start = new ProcessStartInfo(Executable)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var argument in ArgumentsBefore)
                start.ArgumentList.Add(argument);
            start.ArgumentList.Add(CommandName);
            start.ArgumentList.Add(request);
            using var child = Process.Start(start)
                ?? throw new KernelCompileException(source.FileName, architecture.ToString(), $"could not start {Executable} to compile in isolation", nvrtcOptions, null);
            var stdout = child.StandardOutput.ReadToEndAsync();
            var stderr = child.StandardError.ReadToEndAsync();
            if (!child.WaitForExit(Timeout))
            {
                child.Kill(entireProcessTree: true);
                child.WaitForExit();
                throw new KernelCompilerCrashException(source.FileName, architecture.ToString(), nvrtcVersion, nvrtcOptions,
                    $"no result after {Timeout.TotalSeconds:0} s, killed", Tail(stdout.Result + stderr.Result));
            }
            var output = Tail(stdout.Result + stderr.Result);
            if (child.ExitCode == 0)
            {
                var entry = new KernelCache(folder.FullName).TryRead(request + ".kmod", key, out var problem);
                return entry ?? throw new KernelCompileException(source.FileName, architecture.ToString(),
                    $"the compiler process reported success but its result is unusable ({problem ?? "missing"})\n{output}", nvrtcOptions, null);
            }
            if (child.ExitCode == 1 && File.Exists(request + ".log"))
            {
                var text = File.ReadAllText(request + ".log");
                var newline = text.IndexOf('\n');
                var status = newline < 0 ? text : text[..newline];
                var log = newline < 0 ? "" : text[(newline + 1)..];
                throw new KernelCompileException(source.FileName, architecture.ToString(), log, nvrtcOptions, status.Length == 0 ? null : status);
            }
            throw new KernelCompilerCrashException(source.FileName, architecture.ToString(), nvrtcVersion, nvrtcOptions, DescribeEnding(child.ExitCode), output);
        }
        finally
        {
            try { folder.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// The child's side: compiles the request at <paramref name="requestPath"/> in this process. Returns the exit
    /// code (0 compiled, 1 NVRTC refused the source or options, 2 a malformed or foreign request).
    /// </summary>
    public static int Serve(string requestPath, TextWriter error)
    {
        string[] lines;
        try
        {
            lines = File.ReadAllLines(requestPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            error.WriteLine($"cannot read compile request {requestPath}: {e.Message}");
            return 2;
        }
        if (lines.Length < 4 || lines[0] != RequestFormat || !GpuArchitecture.TryParse(lines[2], out var architecture))
        {
            error.WriteLine($"{requestPath} is not a compile request of this version");
            return 2;
        }
        var source = KernelSources.Files.FirstOrDefault(f => f.FileName == lines[1]);
        if (source is null)
        {
            error.WriteLine($"no embedded kernel source {lines[1]}");
            return 2;
        }
        var options = lines[4..];
        var nvrtc = Interop.Nvrtc.Info;
        var key = KernelCache.Key(source, KernelSources.Headers, options, architecture, nvrtc.Version);
        if (key != lines[3])
        {
            error.WriteLine("the request does not match this program's kernel sources or NVRTC (different build?)");
            return 2;
        }
        try
        {
            var entry = KernelCompiler.CompileInProcess(source, KernelSources.Headers, architecture, options, nvrtc);
            new KernelCache(Path.GetDirectoryName(Path.GetFullPath(requestPath))!).Write(requestPath + ".kmod", key, entry);
            return 0;
        }
        catch (KernelCompileException e)
        {
            File.WriteAllText(requestPath + ".log", (e.StatusName ?? "") + "\n" + e.Log);
            return 1;
        }
    }

    /// <summary>"exit code 134 (SIGABRT: .NET's stack-overflow abort)" and the like.</summary>
    internal static string DescribeEnding(int exitCode)
    {
        // A process killed by signal N reports 128 + N through a shell and -N or 128 + N through .NET, by platform.
        int signal = exitCode > 128 && exitCode < 160 ? exitCode - 128 : exitCode < 0 ? -exitCode : 0;
        var name = signal switch
        {
            6 => "SIGABRT, as .NET ends a stack overflow",
            9 => "SIGKILL, e.g. out of memory",
            11 => "SIGSEGV",
            4 => "SIGILL",
            7 => "SIGBUS",
            _ => null,
        };
        return name is null
            ? $"exit code {exitCode.ToString(CultureInfo.InvariantCulture)}"
            : $"exit code {exitCode.ToString(CultureInfo.InvariantCulture)} ({name})";
    }

    private static string Tail(string text)
    {
        text = text.Trim();
        if (text.Length <= 2000)
            return text;
        var builder = new StringBuilder("…");
        builder.Append(text.AsSpan(text.Length - 2000));
        return builder.ToString();
    }
}
