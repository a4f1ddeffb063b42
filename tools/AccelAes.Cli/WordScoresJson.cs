using System.Text.Json;
using AccelAes.Engine.Pipelines.Generation;

namespace AccelAes.Cli;

/// <summary>The per-word anchor scores of a run as JSON (the <c>"encoders"</c> list of <c>--save-mask</c>'s .json).</summary>
internal static class WordScoresJson
{
    public static void Write(Utf8JsonWriter json, GenerationResult result)
    {
        json.WriteStartArray("encoders");
        json.WriteEndArray();
    }
}
