namespace AccelAes.Cli;

/// <summary>Process exit codes, stable so scripts and CI can branch on them.</summary>
internal static class ExitCodes
{
    public const int Success = 0;
    /// <summary>A user-caused error: bad file, bad config, bad option value, unsupported model. The message names it.</summary>
    public const int UserError = 1;
    /// <summary>The command line itself could not be parsed.</summary>
    public const int UsageError = 2;
    /// <summary>A check (selftest, kernels --compile) ran and found failures.</summary>
    public const int CheckFailed = 3;
    /// <summary>The command needs a GPU and none is usable (the message says which check failed).</summary>
    public const int NoGpu = 4;
    /// <summary>Cancelled by Ctrl-C (128 + SIGINT, as a shell reports a process SIGINT ended); no partial output is left.</summary>
    public const int Cancelled = 130;
    /// <summary>A bug: an unexpected exception (the stack trace is printed).</summary>
    public const int InternalError = 70;
}
