namespace AccelAes.Engine.Tests.Cuda;

/// <summary>
/// Test classes that drive the CUDA device run one at a time: the CPU emulator runs kernels on one global thread
/// model and holds one global stream-capture state, so two classes launching concurrently would hang or record each
/// other's work; on a real GPU, concurrent classes would also share the device's memory and time.
/// </summary>
[CollectionDefinition(Name)]
public sealed class CudaDeviceCollection
{
    public const string Name = "CUDA device";
}
