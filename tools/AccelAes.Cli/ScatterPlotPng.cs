using System.Globalization;
using AccelAes.Engine.Evaluation.Runs;
using BigGustave;

namespace AccelAes.Cli;

/// <summary>
/// A speed–quality scatter plot of an evaluation, one per metric: speed-up over dense on x, the metric's mean on y,
/// one point per method with a vertical bar for the bootstrap 95 % interval of its paired difference to dense (placed
/// around dense's mean). Drawn pixel by pixel into BigGustave (the PNG encoder the CLI already uses): the plotting
/// libraries on the feed (ScottPlot, OxyPlot) render through SkiaSharp, a native library that NativeAOT builds would
/// have to ship beside the binary, and a few points, bars and labels do not need it.
/// </summary>
internal static class ScatterPlotPng
{
    private const int W = 640, H = 480, Left = 80, Right = 30, Top = 50, Bottom = 60, Scale = 2;
    private static readonly (byte R, byte G, byte B)[] Palette =
        [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127)];

    public static void Write(string path, string column, IReadOnlyList<MethodSummary> rows, string metric)
    {
        var canvas = new Canvas();
        double denseMean = rows.FirstOrDefault(r => r.Method == EvalMethod.Dense)?.Metrics.First(m => m.Name == metric).Mean ?? double.NaN;
        var points = rows.Select((row, i) =>
        {
            MetricSummary m = row.Metrics.First(x => x.Name == metric);
            (double Low, double High)? bar = m.VersusDense is { } d && double.IsFinite(d.Low) && double.IsFinite(denseMean)
                ? (denseMean + d.Low, denseMean + d.High) : null;
            return (row.Method, X: row.Speedup, Y: m.Mean, Bar: bar, Color: Palette[i % Palette.Length]);
        }).Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y)).ToArray();

        var (x0, x1) = Range(points.Select(p => p.X).Append(1.0));
        var (y0, y1) = Range(points.SelectMany(p => p.Bar is { } b ? new[] { p.Y, b.Low, b.High } : [p.Y]));
        int Px(double x) => Left + (int)Math.Round((x - x0) / (x1 - x0) * (W - Left - Right));
        int Py(double y) => H - Bottom - (int)Math.Round((y - y0) / (y1 - y0) * (H - Top - Bottom));

        (byte, byte, byte) axis = (0, 0, 0), grid = (225, 225, 225);
        for (int t = 0; t <= 4; t++)
        {
            double xv = x0 + t * (x1 - x0) / 4, yv = y0 + t * (y1 - y0) / 4;
            canvas.Line(Px(xv), Top, Px(xv), H - Bottom, grid);
            canvas.Line(Left, Py(yv), W - Right, Py(yv), grid);
            string xl = xv.ToString("0.00", CultureInfo.InvariantCulture), yl = yv.ToString("G4", CultureInfo.InvariantCulture);
            canvas.Text(Px(xv) - TextWidth(xl) / 2, H - Bottom + 8, xl, axis);
            canvas.Text(Left - 8 - TextWidth(yl), Py(yv) - PixelFont.Height * Scale / 2, yl, axis);
        }
        canvas.Line(Left, H - Bottom, W - Right, H - Bottom, axis);
        canvas.Line(Left, Top, Left, H - Bottom, axis);
        canvas.Text(Left, 15, $"{column} vs speedup", axis);
        string xLabel = "speedup over dense (x)";
        canvas.Text((Left + W - Right - TextWidth(xLabel)) / 2, H - 25, xLabel, axis);
        foreach (var p in points)
        {
            int cx = Px(p.X), cy = Py(p.Y);
            if (p.Bar is { } b)
            {
                canvas.Line(cx, Py(b.Low), cx, Py(b.High), p.Color);
                canvas.Line(cx - 4, Py(b.Low), cx + 4, Py(b.Low), p.Color);
                canvas.Line(cx - 4, Py(b.High), cx + 4, Py(b.High), p.Color);
            }
            canvas.Disc(cx, cy, 5, p.Color);
            // The label right of its point, or left of it where it would leave the canvas.
            int labelX = cx + 9 + TextWidth(p.Method) <= W ? cx + 9 : cx - 9 - TextWidth(p.Method);
            canvas.Text(labelX, cy - PixelFont.Height * Scale - 2, p.Method, p.Color);
        }
        PngOutput.Write(path, "--out", new Engine.Pipelines.Generation.RgbImage(W, H, canvas.Pixels),
            [new("Software", "AccelAes"), new("Title", $"{column} vs speedup")]);
    }

    private static int TextWidth(string text) => text.Length * (PixelFont.Width + 1) * Scale;

    /// <summary>The values' range padded by a tenth on each side (a flat range gets a unit-free margin of its own).</summary>
    private static (double, double) Range(IEnumerable<double> values)
    {
        double[] v = [.. values.Where(double.IsFinite)];
        if (v.Length == 0) return (0, 1);
        double lo = v.Min(), hi = v.Max();
        double pad = hi > lo ? (hi - lo) / 10 : Math.Max(Math.Abs(hi) / 10, 1e-6);
        return (lo - pad, hi + pad);
    }

    private sealed class Canvas
    {
        public byte[] Pixels { get; } = Enumerable.Repeat((byte)255, W * H * 3).ToArray();

        public void Set(int x, int y, (byte R, byte G, byte B) c)
        {
            if (x < 0 || y < 0 || x >= W || y >= H) return;
            int o = (y * W + x) * 3;
            (Pixels[o], Pixels[o + 1], Pixels[o + 2]) = c;
        }

        public void Line(int xa, int ya, int xb, int yb, (byte, byte, byte) c)
        {
            int steps = Math.Max(Math.Abs(xb - xa), Math.Abs(yb - ya));
            for (int i = 0; i <= steps; i++)
                Set(xa + (steps == 0 ? 0 : (xb - xa) * i / steps), ya + (steps == 0 ? 0 : (yb - ya) * i / steps), c);
        }

        public void Disc(int cx, int cy, int r, (byte, byte, byte) c)
        {
            for (int y = -r; y <= r; y++)
                for (int x = -r; x <= r; x++)
                    if (x * x + y * y <= r * r) Set(cx + x, cy + y, c);
        }

        public void Text(int x, int y, string text, (byte, byte, byte) c)
        {
            for (int i = 0; i < text.Length; i++)
                for (int gy = 0; gy < PixelFont.Height; gy++)
                    for (int gx = 0; gx < PixelFont.Width; gx++)
                        if (PixelFont.Lit(text[i], gx, gy))
                            for (int s = 0; s < Scale * Scale; s++)
                                Set(x + (i * (PixelFont.Width + 1) + gx) * Scale + s % Scale, y + gy * Scale + s / Scale, c);
        }
    }
}
