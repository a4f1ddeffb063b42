namespace AccelAes.Engine.Planning;

/// <summary>
/// A generation refused before loading because its memory plan does not fit the device (or fits only under a policy
/// the runtime lacks); the message gives the plan's peaks and the change that would make it fit. A type of its own so
/// the C ABI reports it as out of memory, not as a bad model.
/// </summary>
public sealed class MemoryPlanException(string message) : AccelAesException(message);
