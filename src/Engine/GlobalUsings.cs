// System.Numerics.Tensors also defines a `Tensor` type; the engine only needs its vector primitives, so
// they are imported under their own name and `Tensor` always means AccelAes.Engine.Tensors.Tensor.
global using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
