using AccelAes.Engine.Tensors;

namespace AccelAes.Engine.Backends.Cpu;

public sealed partial class CpuBackend
{
    public Tensor GuidanceCombine(Tensor uncond, Tensor cond, float scale)
    {
        RequireSameShape(uncond, cond, "GuidanceCombine");
        var y = New(cond.Shape);
        // diffusers: uncond + scale · (cond − uncond), in this order of operations.
        TensorPrimitives.Subtract(C(cond).Span, C(uncond).Span, y.Span);
        TensorPrimitives.Multiply(y.Span, scale, y.Span);
        TensorPrimitives.Add(C(uncond).Span, y.Span, y.Span);
        return y;
    }

    public void EulerStepInPlace(Tensor latents, Tensor velocity, float dt)
    {
        RequireSameShape(latents, velocity, "EulerStepInPlace");
        Span<float> x = C(latents).Span;
        ReadOnlySpan<float> v = C(velocity).Span;
        // prev = sample + dt · v, rounded after the product as torch does (no fused multiply-add).
        for (int i = 0; i < x.Length; i++)
        {
            float step = dt * v[i];
            x[i] += step;
        }
    }

    public int CountNonFinite(Tensor x)
    {
        int count = 0;
        foreach (float v in C(x).Span)
            if (!float.IsFinite(v)) count++;
        return count;
    }
}
