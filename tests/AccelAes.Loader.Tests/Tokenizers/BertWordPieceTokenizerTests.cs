using AccelAes.Loader.Tokenizers;

namespace AccelAes.Loader.Tests.Tokenizers;

/// <summary>
/// BLIP's BERT tokenizer (bert-base-uncased WordPiece + [DEC], [ENC]) on a hand-written vocabulary, every expected id
/// worked out by hand from transformers' BasicTokenizer + WordpieceTokenizer rules.
/// </summary>
public sealed class BertWordPieceTokenizerTests : IDisposable
{
    // Line number = id, as transformers' load_vocab numbers them.
    private static readonly string[] Vocab =
    [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", // 0-4
        "a", "photo", "of", "astro", "##naut",         // 5-9
        ",", "!", "cafe", "riding", "horse",           // 10-14
        "##s", "the", "中", "文", "an",                 // 15-19
    ];

    private readonly TempDirectory _dir = new();

    private BertWordPieceTokenizer Tokenizer()
    {
        TempDirectory.WriteText(_dir.Path, BertWordPieceTokenizer.VocabFile, string.Join("\n", Vocab) + "\n");
        return BertWordPieceTokenizer.FromFolder(_dir.Path);
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Lower_cases_splits_punctuation_and_word_pieces()
    {
        // "Astronaut" → "astronaut" → astro + ##naut; "horses" → horse + ##s; "," and "!" split off as punctuation.
        int[] ids = Tokenizer().EncodeToIds("A photo of an Astronaut, riding horses!");
        Assert.Equal([5, 6, 7, 19, 8, 9, 10, 13, 14, 15, 11], ids);
    }

    [Fact]
    public void A_word_without_a_full_piece_cover_is_one_unknown_token()
    {
        // "astronauts": astro + ##naut + ##s covers it; "zebra" has no first piece; "photos" = photo + ##s;
        // "thex": "the" then "##x" is missing, so the whole word is [UNK] (WordPiece gives up on the word).
        Assert.Equal([8, 9, 15, 1, 6, 15, 1], Tokenizer().EncodeToIds("astronauts zebra photos thex"));
    }

    [Fact]
    public void Accents_are_stripped_and_cjk_ideographs_stand_alone()
    {
        var t = Tokenizer();
        Assert.Equal([12], t.EncodeToIds("Café"));
        Assert.Equal([12], t.EncodeToIds("CAFÉ"));
        Assert.Equal([5, 17, 18, 16], t.EncodeToIds("a中文the"));
        Assert.Equal(["a", "中", "文", "the"], t.Tokenize("a中文the"));
    }

    [Fact]
    public void Controls_are_dropped_and_unicode_spaces_separate_words()
    {
        // U+00A0 is category Zs (a space); U+200B is Cf (dropped, so it joins nothing here: it sits before "!");
        // "\t" is whitespace; "$" is ASCII punctuation for BERT although Unicode calls it a symbol.
        Assert.Equal([5, 6, 11, 1, 7], Tokenizer().EncodeToIds("a\u00a0photo\u200b!\t$of"));
        // NUL removed inside a word joins its halves: "pho\0to" is "photo".
        Assert.Equal([6], Tokenizer().EncodeToIds("pho\u0000to"));
    }

    [Fact]
    public void Blip_special_tokens_follow_the_vocabulary_and_match_literally()
    {
        var t = Tokenizer();
        Assert.Equal(Vocab.Length + 2, t.VocabularySize);
        Assert.Equal(Vocab.Length, t.IdOf("[DEC]"));
        Assert.Equal(Vocab.Length + 1, t.IdOf("[ENC]"));
        Assert.Equal([Vocab.Length + 1, 6, 2, 5], t.EncodeToIds("[ENC] photo [CLS]a"));
        // Lower-case look-alikes are ordinary text: "[", "enc" (unknown), "]".
        Assert.Equal([1, 1, 1], t.EncodeToIds("[enc]"));
    }

    [Fact]
    public void ImageReward_call_pads_to_35_with_cls_and_sep()
    {
        TokenizedPrompt r = Tokenizer().Encode("a photo", TokenizerCall.PaddedTo(35));
        Assert.Equal(35, r.Length);
        Assert.Equal([2, 5, 6, 3], r.InputIds[..4]);
        Assert.All(r.InputIds[4..], id => Assert.Equal(0, id));
        Assert.Equal([1, 1, 1, 1], r.AttentionMask[..4]);
        Assert.All(r.AttentionMask[4..], m => Assert.Equal(0, m));
    }

    [Fact]
    public void ImageReward_call_truncates_keeping_sep_last()
    {
        string prompt = string.Join(" ", Enumerable.Repeat("photo", 50));
        TokenizedPrompt r = Tokenizer().Encode(prompt, TokenizerCall.PaddedTo(35));
        Assert.True(r.Truncated);
        Assert.Equal(52, r.UntruncatedLength);
        Assert.Equal(2, r.InputIds[0]);
        Assert.All(r.InputIds[1..34], id => Assert.Equal(6, id));
        Assert.Equal(3, r.InputIds[34]);
        Assert.All(r.AttentionMask, m => Assert.Equal(1, m));
    }

    [Fact]
    public void Missing_vocabulary_and_missing_specials_are_named()
    {
        var e = Assert.Throws<TokenizerException>(() => BertWordPieceTokenizer.FromFolder(_dir.Path));
        Assert.Contains("vocab.txt", e.Message);
        TempDirectory.WriteText(_dir.Path, BertWordPieceTokenizer.VocabFile, "[PAD]\n[UNK]\n[CLS]\na\n");
        e = Assert.Throws<TokenizerException>(() => BertWordPieceTokenizer.FromFolder(_dir.Path));
        Assert.Contains("[SEP]", e.Message);
    }
}
