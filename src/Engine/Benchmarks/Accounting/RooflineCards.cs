namespace AccelAes.Engine.Benchmarks.Accounting;

/// <summary>The cards `bench --accounting` reports floors for (issue 16: H100 SXM, RTX 5090, RTX 4090, A100 80GB).</summary>
public static class RooflineCards
{
    /// <summary>
    /// NVIDIA H100 Tensor Core GPU datasheet (SXM5): BF16 Tensor Core 1,979 TFLOPS with sparsity → 989.4 dense; HBM3 3.35 TB/s.
    /// </summary>
    public static RooflineCard H100Sxm { get; } = new("H100 SXM", 989.4, 3350, "NVIDIA H100 datasheet (SXM5): 1,979 TFLOPS bf16 with sparsity, 3.35 TB/s HBM3");

    /// <summary>
    /// NVIDIA RTX Blackwell GPU architecture whitepaper, GeForce RTX 5090: peak FP16/BF16 tensor TFLOPS with FP32 accumulate
    /// 209.5 dense (419 with sparsity; GeForce cards run fp32 accumulation at half the fp16-accumulate rate); GDDR7
    /// 28 Gbps × 512 bit = 1,792 GB/s.
    /// </summary>
    public static RooflineCard Rtx5090 { get; } = new("RTX 5090", 209.5, 1792, "RTX Blackwell whitepaper: 209.5 TFLOPS bf16 (fp32 accumulate, dense), 1,792 GB/s GDDR7");

    /// <summary>
    /// NVIDIA Ada GPU architecture whitepaper, GeForce RTX 4090: peak BF16 tensor TFLOPS with FP32 accumulate 165.2 dense
    /// (330.3 with sparsity); GDDR6X 21 Gbps × 384 bit = 1,008 GB/s.
    /// </summary>
    public static RooflineCard Rtx4090 { get; } = new("RTX 4090", 165.2, 1008, "Ada whitepaper: 165.2 TFLOPS bf16 (fp32 accumulate, dense), 1,008 GB/s GDDR6X");

    /// <summary>NVIDIA A100 Tensor Core GPU datasheet, A100 80GB SXM: BF16 Tensor Core 312 TFLOPS dense (624 with sparsity); HBM2e 2,039 GB/s.</summary>
    public static RooflineCard A100Sxm80 { get; } = new("A100 80GB", 312, 2039, "NVIDIA A100 datasheet (80GB SXM): 312 TFLOPS bf16 dense, 2,039 GB/s HBM2e");

    public static IReadOnlyList<RooflineCard> All { get; } = [H100Sxm, Rtx5090, Rtx4090, A100Sxm80];
}
