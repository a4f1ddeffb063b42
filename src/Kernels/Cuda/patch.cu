// patch.cu — patchify / unpatchify between images [B, C, H, W] and patch tokens [B, (H/p)·(W/p), C·p·p].
//
// Tokens are row-major over the patch grid (token = (b·gh + r)·gw + c, gh = H/p, gw = W/p). The order of
// the C·p·p features inside a token differs between backbones (PatchLayout, architectures.md §0.3):
//   layout 0, ChannelMajor: feature = (ch·p + ph)·p + pw    (SD3's conv patch embed, FLUX packing)
//   layout 1, ChannelMinor: feature = (ph·p + pw)·C + ch    (SD3's and Lumina's unpatchify)
// pixel (b, ch, r·p + ph, c·p + pw) ↔ token feature. Both directions are bijections; each kernel walks its
// output (tokens for patchify, pixels for unpatchify) so stores are coalesced and every element is
// written exactly once. 2- and 4-byte element variants: values are moved, not converted.
// Shape: grid-stride over output elements.
#include "common.cuh"

__device__ __forceinline__ int patch_feature(int ch, int ph, int pw, int channels, int p, int layout) {
    return layout == 0 ? (ch * p + ph) * p + pw : (ph * p + pw) * channels + ch;
}

template <typename T>
__device__ __forceinline__ void patchify(const T* x, T* tokens, int batch, int channels, int height, int width, int p, int layout) {
    const int gh = height / p, gw = width / p, features = channels * p * p;
    ACCELAES_GRID_STRIDE(e, (u64)batch * gh * gw * features) {
        const int f = (int)(e % features);
        const u64 token = e / features;
        const int c = (int)(token % gw);
        const int r = (int)(token / gw % gh);
        const u64 b = token / gw / gh;
        int ch, ph, pw;
        if (layout == 0) { ch = f / (p * p); ph = f / p % p; pw = f % p; }
        else { ch = f % channels; ph = f / channels / p; pw = f / channels % p; }
        tokens[e] = x[((b * channels + ch) * height + (u64)(r * p + ph)) * width + c * p + pw];
    }
}

template <typename T>
__device__ __forceinline__ void unpatchify(const T* tokens, T* x, int batch, int channels, int height, int width, int p, int layout) {
    const int gh = height / p, gw = width / p, features = channels * p * p;
    ACCELAES_GRID_STRIDE(e, (u64)batch * channels * height * width) {
        const int px = (int)(e % width);
        const int py = (int)(e / width % height);
        const int ch = (int)(e / width / height % channels);
        const u64 b = e / width / height / channels;
        const u64 token = (b * gh + py / p) * gw + px / p;
        x[e] = tokens[token * features + patch_feature(ch, py % p, px % p, channels, p, layout)];
    }
}

extern "C" __global__ void patchify_b16(const u16* __restrict__ x, u16* __restrict__ tokens, int batch, int channels,
                                        int height, int width, int p, int layout) {
    patchify(x, tokens, batch, channels, height, width, p, layout);
}

extern "C" __global__ void patchify_b32(const u32* __restrict__ x, u32* __restrict__ tokens, int batch, int channels,
                                        int height, int width, int p, int layout) {
    patchify(x, tokens, batch, channels, height, width, p, layout);
}

extern "C" __global__ void unpatchify_b16(const u16* __restrict__ tokens, u16* __restrict__ x, int batch, int channels,
                                          int height, int width, int p, int layout) {
    unpatchify(tokens, x, batch, channels, height, width, p, layout);
}

extern "C" __global__ void unpatchify_b32(const u32* __restrict__ tokens, u32* __restrict__ x, int batch, int channels,
                                          int height, int width, int p, int layout) {
    unpatchify(tokens, x, batch, channels, height, width, p, layout);
}
