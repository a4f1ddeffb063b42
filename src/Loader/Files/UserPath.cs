namespace AccelAes.Loader.Files;

/// <summary>
/// A path a user typed (an option, a C ABI string, an environment variable), made absolute — the first step of every
/// input and output check. An empty or whitespace path, or one the system cannot express (a NUL byte, too long), is
/// an <see cref="AccelAesException"/> naming the option, never the ArgumentException .NET's path APIs throw.
/// </summary>
public static class UserPath
{
    public static string Full(string? path, string what)
    {
        if (string.IsNullOrWhiteSpace(path))
            throw new AccelAesException($"{what} is empty: give a path.");
        try
        {
            return Path.GetFullPath(path);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new AccelAesException($"{what} '{path}' is not a usable path: {e.Message}");
        }
    }
}
