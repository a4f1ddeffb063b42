using System.Globalization;
using System.Text.Json;
using AccelAes.Engine.Benchmarks;

namespace AccelAes.Cli.Commands;

/// <summary>`bench --offload sequential`: the time each residency policy adds per step, and the weight stream's bandwidth.</summary>
internal static class BenchResidencyReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Why a figure is missing where the events measured no time: the emulator of libcuda, never a GPU.</summary>
    public const string NoDeviceTime = "n/a: no device time measured (the CPU emulator's events report 0 ms; not a GPU figure)";

    public static void Show(SequentialStepCost s)
    {
        bool timed = s.ResidentMilliseconds > 0 || s.StreamedMilliseconds > 0;
        var table = Ui.Table("policy", "adds per step", "note");
        table.AddCells("none", "0 ms", "every weight resident");
        table.AddCells("encoders", "0 ms", "text encoders and transformer/VAE swap between generations: a load per generation (generate's phase table), no step cost");
        table.AddCells("sequential", timed ? $"{s.AddedMilliseconds.ToString("F2", Inv)} ms" : NoDeviceTime,
            timed ? $"eager forward streamed {s.StreamedMilliseconds.ToString("F2", Inv)} ms vs resident {s.ResidentMilliseconds.ToString("F2", Inv)} ms (medians)" : "");
        Ui.Show(table);
        Ui.Info($"sequential: {Ui.Bytes((long)s.BytesPerForward)} of block weights uploaded per forward from {Ui.Bytes((long)s.HostBytes)} of pinned host memory " +
                $"through two slots of {Ui.Bytes((long)s.SlotBytes)}; weight stream " +
                (s.BytesPerSecond is double rate ? $"{(rate / 1e9).ToString("F2", Inv)} GB/s (copy-stream events)" : NoDeviceTime));
    }

    public static void WriteJson(Utf8JsonWriter w, SequentialStepCost s)
    {
        w.WriteStartObject("residency");
        w.WriteStartObject("added_ms_per_step");
        w.WriteNumber("none", 0);
        w.WriteNumber("encoders", 0);
        JsonFiles.Number(w, "sequential", s.AddedMilliseconds);
        w.WriteEndObject();
        JsonFiles.Number(w, "resident_eager_forward_ms", s.ResidentMilliseconds);
        JsonFiles.Number(w, "streamed_eager_forward_ms", s.StreamedMilliseconds);
        JsonFiles.Number(w, "streamed_bytes_per_forward", s.BytesPerForward);
        if (s.BytesPerSecond is double rate) w.WriteNumber("upload_bytes_per_second", rate);
        else w.WriteNull("upload_bytes_per_second");
        w.WriteNumber("pinned_host_bytes", s.HostBytes);
        w.WriteNumber("slot_bytes", s.SlotBytes);
        w.WriteEndObject();
    }
}
