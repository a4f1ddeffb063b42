namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Every test class that drives the CUDA device belongs here, so they run one at a time: tests compare process-wide
/// counters (the emulator's fake_cuda_counters, kernel launch counts), change emulator knobs for the process
/// (CudaEmulatorTests), or measure the pool's memory; and on a real GPU concurrent classes would share its memory and
/// time. (The emulator itself serialises launches from several threads and keeps stream captures per stream, so a
/// class left out would be slow or flaky, not a crash; a class outside it crashed the test host before that fix.)
/// </summary>
[CollectionDefinition(Name)]
public sealed class CudaDeviceCollection
{
    public const string Name = "CUDA device";
}
