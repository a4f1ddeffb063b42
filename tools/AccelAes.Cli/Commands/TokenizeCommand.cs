using System.CommandLine;
using System.Globalization;
using System.Text;
using AccelAes.Engine.Pipelines.Generation;
using AccelAes.Engine.Tiny;
using AccelAes.Loader.Files;
using AccelAes.Loader.Tokenizers;
using AccelAes.Loader.Validation;

namespace AccelAes.Cli.Commands;

/// <summary>
/// `accelaes tokenize`: the ids a pipeline feeds its text encoder for a prompt, with the pipeline's own tokenizer
/// call (<see cref="PipelineTokenizerCalls"/>, the table generation uses), the token strings, the attention mask,
/// and a warning when the prompt is cut. A lone tokenizer folder is called the way its kind is called by the
/// pipelines (CLIP: 77 tokens, T5: FLUX's 512, Gemma: Lumina's call).
/// </summary>
internal static class TokenizeCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model")
        {
            Description = "A diffusers pipeline folder (SD3 / FLUX / Lumina-Next) or a single tokenizer folder. Default: the built-in tiny model.",
        };
        var component = new Option<string?>("--component")
        {
            Description = "Which tokenizer of a pipeline folder: tokenizer, tokenizer_2 or tokenizer_3 (default: tokenizer).",
        };
        component.AcceptOnlyFromAmong([.. TokenizerFactory.ComponentFolders]);
        var prompt = new Option<string>("--prompt") { Description = "The text to tokenize.", Required = true };
        var maxLength = new Option<int?>("--max-length")
        {
            Description = "Override the call's max_length (SD3 / FLUX max_sequence_length for T5, Lumina's 256, CLIP's 77).",
        };
        var command = new Command("tokenize", "Show the token ids, tokens and attention mask a pipeline feeds its text encoder for a prompt.")
        {
            model, component, prompt, maxLength,
        };
        command.SetAction(parse =>
        {
            int? maxLengthOverride = parse.GetValue(maxLength) is int n ? ValueChecks.Count(n, "--max-length", 1, InputLimits.MaxSequenceLength) : null;
            string folder = parse.GetValue(model) ?? BuiltInFolder();
            var (tokenizer, slot, pipeline) = Open(folder, parse.GetValue(component));
            TokenizerCall call = maxLengthOverride is int length ? slot.Call with { MaxLength = length } : slot.Call;
            string text = parse.GetValue(prompt)!;
            TokenizedPrompt t = tokenizer.Encode(text, call);

            Ui.Info($"{pipeline ?? "tokenizer folder"}: {slot.Label}, {tokenizer.Kind} tokenizer at {tokenizer.Source}");
            Ui.Info($"call: {slot.Description}" + (call.MaxLength != slot.Call.MaxLength ? $" (max_length overridden: {call.MaxLength})" : ""));
            Ui.Info($"{t.Length} ids: {t.TokenCount} tokens, {t.Length - t.TokenCount} padding");
            // Plain lines, never wrapped, so scripts can read them.
            Console.Out.WriteLine("input_ids: [" + string.Join(", ", t.InputIds) + "]");
            Console.Out.WriteLine("attention_mask: [" + string.Join(", ", t.AttentionMask) + "]");
            Console.Out.WriteLine("tokens: [" + string.Join(", ", TokenStrings(tokenizer, text, call, t).Select(Quote)) + "]");
            if (t.Truncated)
                Ui.Warn($"The prompt is longer than {slot.Label} takes: {t.DroppedTokenCount} of its {t.UntruncatedLength} tokens were dropped.");
            return ExitCodes.Success;
        });
        return command;
    }

    private static (IPromptTokenizer Tokenizer, PipelineTokenizerCall Slot, string? Pipeline) Open(string folder, string? component)
    {
        Loader.Diffusers.ModelFolder.RequireFolder(folder);
        if (!InputFile.Exists(Path.Combine(folder, "model_index.json")))
        {
            if (component is not null)
                throw new AccelAesException(
                    $"'{Path.GetFullPath(folder)}' has no model_index.json, so it is read as one tokenizer folder; --component applies to pipeline folders.");
            IPromptTokenizer lone = TokenizerFactory.FromFolder(folder);
            return (lone, PipelineTokenizerCalls.ForKind(lone.Kind, Path.GetFileName(Path.GetFullPath(folder).TrimEnd(Path.DirectorySeparatorChar))), null);
        }

        var modelFolder = Loader.Diffusers.ModelFolder.Open(folder);
        string pipeline = modelFolder.PipelineClass!;
        PipelineTokenizerCall slot = PipelineTokenizerCalls.Of(pipeline, component ?? "tokenizer");
        if (!Directory.Exists(Path.Combine(modelFolder.Root, slot.Component)))
            throw new AccelAesException($"Model folder '{modelFolder.Root}' has no component '{slot.Component}' (its tokenizer folder is missing).");
        DiffusersTokenizers all = TokenizerFactory.FromModelFolder(modelFolder.Root);
        IPromptTokenizer tokenizer = slot.Component switch
        {
            "tokenizer" => all.Tokenizer,
            "tokenizer_2" => all.Tokenizer2,
            _ => all.Tokenizer3,
        } ?? throw new AccelAesException($"Model folder '{modelFolder.Root}' has no component '{slot.Component}'.");
        return (tokenizer, slot, pipeline);
    }

    /// <summary>
    /// One string per id: the special / added tokens by id, padding as the pad token, and the content tokens as the
    /// tokenizer splits the (pre-processed) text. Content tokens are shown only when re-tokenizing that text gives
    /// the very ids of the call; an id with no known string is shown as "?".
    /// </summary>
    private static List<string> TokenStrings(IPromptTokenizer tokenizer, string prompt, TokenizerCall call, TokenizedPrompt t)
    {
        var byId = new Dictionary<int, string>();
        if (tokenizer is PromptTokenizer withAdded)
            foreach (AddedToken added in withAdded.AddedTokens)
                byId.TryAdd(added.Id, added.Content);

        string text = call.Preprocessing == PromptPreprocessing.LowerCaseAndStrip ? prompt.ToLower(CultureInfo.InvariantCulture).Trim() : prompt;
        int[] content = tokenizer.Encode(prompt, new TokenizerCall
        {
            Padding = PaddingStrategy.None, Truncation = false, AddSpecialTokens = false, Preprocessing = call.Preprocessing,
        }).InputIds;
        if (content.AsSpan().SequenceEqual(tokenizer.EncodeToIds(text)))
        {
            IReadOnlyList<string> tokens = tokenizer.Tokenize(text);
            if (tokens.Count == content.Length)
                for (int i = 0; i < content.Length; i++)
                    byId.TryAdd(content[i], tokens[i]);
        }

        var result = new List<string>(t.Length);
        for (int i = 0; i < t.Length; i++)
            result.Add(byId.TryGetValue(t.InputIds[i], out string? s) ? s : "?");
        return result;
    }

    /// <summary>A JSON string literal (non-ASCII kept readable).</summary>
    private static string Quote(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\t': sb.Append("\\t"); break;
                case '\r': sb.Append("\\r"); break;
                default:
                    if (c < 0x20) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    private static string BuiltInFolder()
    {
        string folder = BuiltInModel.EnsureWritten();
        Ui.Info($"No --model given: using the built-in tiny model ({BuiltInModel.Name}) at {folder}");
        return folder;
    }
}
