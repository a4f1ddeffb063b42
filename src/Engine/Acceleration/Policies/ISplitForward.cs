using AccelAes.Engine.Acceleration.Fora;
using AccelAes.Engine.Acceleration.Runtime;
using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Acceleration.Policies;

/// <summary>
/// One step's transformer forward with its embeddings done and its blocks pending, split where the caching policies
/// act: block 0 alone, the blocks after it, every block (optionally through FORA's output cache), and the output layer.
/// Each backbone's model provides it; a policy never sees the model itself. The block methods update <see cref="Image"/>
/// (and the backbone's text stream) in place, and each forward runs its blocks once.
/// </summary>
public interface ISplitForward
{
    /// <summary>The image tokens entering the next block [B, N, D] (the embedder's output before any block ran).</summary>
    Tensor Image { get; }

    /// <summary>Block 0's timestep-modulated image input (TeaCache's signal), without running the block.</summary>
    Tensor FirstBlockModulatedInput();

    /// <summary>Block 0 alone (FBCache's signal is its residual).</summary>
    void RunFirstBlock();

    /// <summary>Every block after block 0; returns the image tokens after the last block.</summary>
    Tensor RunBlocksAfterFirst();

    /// <summary>Every block; returns the image tokens after the last block.</summary>
    Tensor RunBlocks();

    /// <summary>Every block under FORA (compute and store, or reuse through this step's gates: <see cref="BlockOutputCache"/>).</summary>
    Tensor RunBlocks(BlockOutputCache outputs);

    /// <summary>
    /// RAS: every block on the image tokens <paramref name="tokens"/> marks active (<see cref="SparseForward.FocusTokens"/>;
    /// null = every token), their attention reading keys and values through <see cref="SparseForward.KeyValues"/>. Returns
    /// the image tokens after the last block [B, N, D]; rows of tokens not computed keep their embedding (the policy
    /// replaces their output).
    /// </summary>
    Tensor RunBlocks(SparseForward tokens);

    /// <summary>The velocity from image tokens after the last block (norm_out, proj_out and any unpatchify, with this step's temb).</summary>
    Tensor Output(Tensor image);

    // Block ranges (Δ-DiT): the blocks as one index range 0 … BlockCount − 1, run or stood in for in consecutive ranges
    // from block 0 to the last, each range starting where the previous one ended.

    /// <summary>The blocks of one index range (FLUX: the double-stream blocks, then the single-stream blocks).</summary>
    int BlockCount { get; }

    /// <summary>
    /// A copy of every stream the blocks update, as it stands between two ranges, as one tensor: the image tokens, after
    /// the text tokens on MMDiT backbones ([B, L + N, D], the order FLUX's single-stream blocks use). Two of them differ by
    /// what the blocks between them added (Δ-DiT's deviation). SD3's context_pre_only last block leaves no text stream:
    /// a range through it keeps the text part it started with (nothing reads it later).
    /// </summary>
    Tensor BlockStates();

    /// <summary>Runs blocks <paramref name="first"/> … <paramref name="end"/> − 1 on the streams the previous range left.</summary>
    void RunBlockRange(int first, int end);

    /// <summary>
    /// Stands in for blocks <paramref name="first"/> … <paramref name="end"/> − 1: adds <paramref name="deviation"/> (a
    /// difference of two <see cref="BlockStates"/>) to the streams instead of running them.
    /// </summary>
    void SkipBlockRange(int first, int end, Tensor deviation);

    /// <summary>The image tokens after the last block, once the ranges reached it.</summary>
    Tensor ImageAfterBlockRanges();
}
