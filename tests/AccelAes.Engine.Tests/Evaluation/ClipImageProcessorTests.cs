using AccelAes.Engine.Evaluation;
using AccelAes.Engine.Evaluation.Clip;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Loader.Diffusers;
using AccelAes.Loader.Diffusers.Configs;
using AccelAes.Loader.Images;
using BigGustave;

namespace AccelAes.Engine.Tests.Evaluation;

/// <summary>
/// The preprocessing pieces on hand-computed cases the goldens do not reach: both config spellings, refused settings,
/// transformers' crop padding, Pillow's kernel, and what the PNG reader accepts.
/// </summary>
public class ClipImageProcessorTests
{
    private static JsonConfig Json(string json) => JsonConfig.Parse("preprocessor_config.json", json);

    [Fact]
    public void The_older_integer_spelling_is_a_shortest_edge_and_a_square_crop()
    {
        // openai/clip-vit-large-patch14's file is a CLIPFeatureExtractor config with integers.
        var c = ClipImageProcessorConfig.From(Json("""{"crop_size": 224, "size": 224, "resample": 3, "feature_extractor_type": "CLIPFeatureExtractor"}"""));
        Assert.Equal(224, c.ShortestEdge);
        Assert.Equal((224, 224), (c.CropWidth, c.CropHeight));
        Assert.Equal((298, 224), new ClipImageProcessor(c).ResizedSize(640, 481));
    }

    [Fact]
    public void A_height_and_width_size_resizes_to_exactly_that()
    {
        var c = ClipImageProcessorConfig.From(Json("""{"size": {"height": 20, "width": 30}, "do_center_crop": false}"""));
        Assert.Null(c.ShortestEdge);
        Assert.Equal((30, 20), new ClipImageProcessor(c).ResizedSize(7, 9));
        var processed = new ClipImageProcessor(c).Preprocess(new RgbImage(7, 9, new byte[7 * 9 * 3]));
        Assert.Equal((30, 20), (processed.Width, processed.Height));
    }

    [Fact]
    public void The_long_side_is_truncated_not_rounded()
    {
        var c = new ClipImageProcessorConfig { ShortestEdge = 32 };
        // 32 · 67 / 48 = 44.67 → 44 and 32 · 71 / 48 = 47.33 → 47, on either orientation.
        Assert.Equal((44, 32), new ClipImageProcessor(c).ResizedSize(67, 48));
        Assert.Equal((32, 47), new ClipImageProcessor(c).ResizedSize(48, 71));
    }

    [Fact]
    public void Every_processor_switch_and_value_acts()
    {
        // 3 × 2 image, pixel (x, y) channel c = 10·(y·3 + x) + c.
        var pixels = new byte[3 * 2 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(10 * (i / 3) + i % 3);
        var image = new RgbImage(3, 2, pixels);
        ProcessedImage Run(string json) => new ClipImageProcessor(ClipImageProcessorConfig.From(Json(json))).Preprocess(image);
        const string asIs = "\"do_resize\": false, \"do_center_crop\": false";

        var plain = Run($"{{{asIs}, \"do_rescale\": false, \"do_normalize\": false}}");
        Assert.Equal((3, 2), (plain.Width, plain.Height));
        // Channels first: channel 1 of pixel (2, 1) = 10·5 + 1.
        Assert.Equal(51f, plain.PixelValues[1 * 6 + 1 * 3 + 2]);

        var rescaled = Run($"{{{asIs}, \"rescale_factor\": 0.5, \"do_normalize\": false}}");
        Assert.Equal(25.5f, rescaled.PixelValues[1 * 6 + 5]);

        var normalised = Run($"{{{asIs}, \"do_rescale\": false, \"image_mean\": [1, 2, 3], \"image_std\": [2, 4, 8]}}");
        Assert.Equal((51f - 2f) / 4f, normalised.PixelValues[1 * 6 + 5]);

        var resized = Run("{\"size\": {\"shortest_edge\": 4}, \"do_center_crop\": false}");
        Assert.Equal((6, 4), (resized.Width, resized.Height));
        var cropped = Run("{\"do_resize\": false, \"crop_size\": {\"height\": 1, \"width\": 1}, \"do_rescale\": false, \"do_normalize\": false}");
        // (3 − 1) // 2 = 1, (2 − 1) // 2 = 0: pixel (1, 0).
        Assert.Equal(new float[] { 10, 11, 12 }, cropped.PixelValues);
    }

    [Fact]
    public void An_image_too_elongated_to_resize_is_refused_before_any_allocation()
    {
        var processor = new ClipImageProcessor(new ClipImageProcessorConfig());
        var e = Assert.ThrowsAny<AccelAesException>(() => processor.Preprocess(new RgbImage(8000, 2, new byte[8000 * 2 * 3])));
        Assert.Contains("8000×2", e.Message);
        Assert.Equal((14336, 224), processor.ResizedSize(4096, 64)); // exactly 64:1 is allowed
    }

    [Fact]
    public void Unsupported_filters_and_a_zero_std_are_refused_by_field()
    {
        var resample = Assert.Throws<ConfigException>(() => ClipImageProcessorConfig.From(Json("""{"resample": 2}""")));
        Assert.Equal("resample", resample.Field);
        var std = Assert.Throws<ConfigException>(() => ClipImageProcessorConfig.From(Json("""{"image_std": [0.2, 0, 0.2]}""")));
        Assert.Equal("image_std", std.Field);
        var mean = Assert.Throws<ConfigException>(() => ClipImageProcessorConfig.From(Json("""{"image_mean": [0.5, 0.5]}""")));
        Assert.Equal("image_mean", mean.Field);
        var size = Assert.ThrowsAny<AccelAesException>(() => ClipImageProcessorConfig.From(Json("""{"size": {"shortest_edge": 100000}}""")));
        Assert.Contains("size.shortest_edge", size.Message);
    }

    [Fact]
    public void Center_crop_takes_the_floor_offset_and_pads_a_larger_crop_centred_with_zeros()
    {
        // One channel, 5 wide × 1 high, crop 2 wide: offset (5 − 2) // 2 = 1.
        Assert.Equal(new byte[] { 2, 3 }, CenterCrop.Apply([1, 2, 3, 4, 5], 5, 1, 1, 2, 1));
        // 2 × 2 into 3 × 3: transformers pads ceil(1 / 2) = 1 row and column before the image.
        Assert.Equal(new byte[] { 0, 0, 0, 0, 1, 2, 0, 3, 4 }, CenterCrop.Apply([1, 2, 3, 4], 2, 2, 1, 3, 3));
        // 2 × 2 into 4 × 4: one on each side.
        byte[] padded = CenterCrop.Apply([1, 2, 3, 4], 2, 2, 1, 4, 4);
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0 }, padded);
    }

    [Fact]
    public void Pillows_cubic_kernel_and_a_constant_image()
    {
        Assert.Equal(1.0, PilBicubicResize.Cubic(0));
        Assert.Equal(0.5625, PilBicubicResize.Cubic(0.5));
        Assert.Equal(0.0, PilBicubicResize.Cubic(1));
        Assert.Equal(-0.0625, PilBicubicResize.Cubic(-1.5));
        Assert.Equal(0.0, PilBicubicResize.Cubic(2));
        byte[] flat = Enumerable.Repeat((byte)200, 7 * 5 * 3).ToArray();
        Assert.All(PilBicubicResize.Resize(flat, 7, 5, 3, 16, 3), v => Assert.Equal(200, v));
        byte[] same = PilBicubicResize.Resize(flat, 7, 5, 3, 7, 5);
        Assert.Equal(flat, same);
        Assert.NotSame(flat, same);
    }

    [Fact]
    public void Png_alpha_is_dropped_not_composited_as_pil_convert_rgb_does()
    {
        var builder = PngBuilder.Create(2, 1, hasAlphaChannel: true);
        builder.SetPixel(new Pixel(10, 20, 30, 0, false), 0, 0);
        builder.SetPixel(new Pixel(40, 50, 60, 255, false), 1, 0);
        using var stream = new MemoryStream();
        builder.Save(stream);
        RgbImage image = RgbImageFile.Decode(stream.ToArray(), "test");
        Assert.Equal(new byte[] { 10, 20, 30, 40, 50, 60 }, image.Pixels);
    }

    [Fact]
    public void A_png_header_claiming_a_huge_image_is_refused_before_decoding()
    {
        byte[] bytes = [137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, (byte)'I', (byte)'H', (byte)'D', (byte)'R',
            0, 1, 0, 0, 0, 1, 0, 0, 8, 2, 0, 0, 0];
        var e = Assert.ThrowsAny<AccelAesException>(() => RgbImageFile.Decode(bytes, "--image 'big.png'"));
        Assert.Contains("65536×65536", e.Message);
        var notPng = Assert.ThrowsAny<AccelAesException>(() => RgbImageFile.Decode("GIF89a...................."u8.ToArray(), "--image 'x.gif'"));
        Assert.Contains("not a PNG", notPng.Message);
    }

    [Fact]
    public void A_png_whose_data_inflates_past_its_header_size_is_refused()
    {
        // A valid 1 × 1 PNG header followed by 4 MB of zeros deflated into a few KB.
        using var compressed = new MemoryStream();
        using (var z = new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionLevel.SmallestSize, leaveOpen: true))
            z.Write(new byte[4 << 20]);
        var png = new MemoryStream();
        png.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        WriteChunk(png, "IHDR", [0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
        WriteChunk(png, "IDAT", compressed.ToArray());
        WriteChunk(png, "IEND", []);
        Assert.True(png.Length < 100_000);
        var e = Assert.ThrowsAny<AccelAesException>(() => RgbImageFile.Decode(png.ToArray(), "--image 'bomb.png'"));
        Assert.Contains("inflates", e.Message);
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        var length = new byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(length, (uint)data.Length);
        s.Write(length);
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        // CRC left zero: the size check runs before any decoder reads the chunks (the message asserted says which check refused).
        s.Write(new byte[4]);
    }

    [Fact]
    public void A_clip_config_fills_left_out_sub_config_fields_with_the_class_defaults()
    {
        var c = ClipConfig.From(Json("""{"architectures": ["CLIPModel"], "projection_dim": 768, "vision_config": {"hidden_size": 1024, "num_attention_heads": 16, "patch_size": 14}}"""));
        Assert.Equal(512, c.TextConfig.HiddenSize);
        Assert.Equal(49407, c.TextConfig.EosTokenId);
        Assert.Equal("quick_gelu", c.VisionConfig.HiddenAct);
        Assert.Equal(224, c.VisionConfig.ImageSize);
        Assert.Equal(257, c.VisionConfig.NumPositions);
        // The image tower's projection is CLIPModel's projection_dim, not vision_config's default 512.
        Assert.Equal(768, ClipCheckpoint.ImageTowerOf(c).ProjectionDim);
    }
}
