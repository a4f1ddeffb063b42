namespace AccelAes.Engine.Tensors;

/// <summary>
/// Order of the features inside one p×p patch token. The backbones disagree (architectures.md §0.3):
/// SD3's conv patch embed and FLUX packing use (c, ph, pw); SD3's and Lumina's unpatchify use (ph, pw, c).
/// </summary>
public enum PatchLayout
{
    /// <summary>feature = (c·p + ph)·p + pw</summary>
    ChannelMajor,
    /// <summary>feature = (ph·p + pw)·C + c</summary>
    ChannelMinor,
}
