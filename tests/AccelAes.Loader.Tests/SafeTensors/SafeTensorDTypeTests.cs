using AccelAes.Loader.SafeTensors;

namespace AccelAes.Loader.Tests.SafeTensors;

public sealed class SafeTensorDTypeTests
{
    [Theory]
    [InlineData("BOOL", SafeTensorDType.Bool, 1)]
    [InlineData("U8", SafeTensorDType.U8, 1)]
    [InlineData("I8", SafeTensorDType.I8, 1)]
    [InlineData("F8_E5M2", SafeTensorDType.F8E5M2, 1)]
    [InlineData("F8_E4M3", SafeTensorDType.F8E4M3, 1)]
    [InlineData("F8_E8M0", SafeTensorDType.F8E8M0, 1)]
    [InlineData("I16", SafeTensorDType.I16, 2)]
    [InlineData("U16", SafeTensorDType.U16, 2)]
    [InlineData("F16", SafeTensorDType.F16, 2)]
    [InlineData("BF16", SafeTensorDType.BF16, 2)]
    [InlineData("I32", SafeTensorDType.I32, 4)]
    [InlineData("U32", SafeTensorDType.U32, 4)]
    [InlineData("F32", SafeTensorDType.F32, 4)]
    [InlineData("C64", SafeTensorDType.C64, 8)]
    [InlineData("F64", SafeTensorDType.F64, 8)]
    [InlineData("I64", SafeTensorDType.I64, 8)]
    [InlineData("U64", SafeTensorDType.U64, 8)]
    public void Header_names_parse_and_sizes_are_right(string headerName, SafeTensorDType dtype, int size)
    {
        Assert.True(SafeTensorDTypes.TryParse(headerName, out var parsed));
        Assert.Equal(dtype, parsed);
        Assert.Equal(headerName, dtype.HeaderName());
        Assert.Equal(size, dtype.ByteSize());
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("FP32")]
    [InlineData("F4")]
    [InlineData("")]
    [InlineData(null)]
    public void Unknown_names_do_not_parse(string? headerName)
    {
        Assert.False(SafeTensorDTypes.TryParse(headerName, out _));
    }

    [Fact]
    public void Every_member_has_a_distinct_header_name()
    {
        var names = SafeTensorDTypes.Supported.Select(d => d.HeaderName()).ToArray();
        Assert.Equal(Enum.GetValues<SafeTensorDType>().Length, names.Length);
        Assert.Equal(names.Length, names.Distinct().Count());
    }
}
