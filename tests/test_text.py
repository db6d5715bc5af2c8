"""Normalisation, headings and sentence splitting (no model needed)."""

import threading

from snowballstemmer.english_stemmer import EnglishStemmer

from assistant import text as text_module
from assistant.text import blocks, looks_like_headline, normalize_text, sentence_spans, stems


def test_normalize_nfc_whitespace_and_controls():
    raw = "Cafe\u0301  au\u00a0lait\r\n\r\n\r\n\tNext\u200b line \x07end  "
    out = normalize_text(raw)
    assert out == "Café au lait\n\nNext line end"


def test_normalize_is_idempotent():
    raw = "A  b\n\n\n\nc\u00a0d "
    assert normalize_text(normalize_text(raw)) == normalize_text(raw)


def test_sentences_keep_abbreviations_and_initials():
    text = ("Russia’s closest regional ally, Belarus became reliant on Moscow after it helped "
            "President Aleksandr G. Lukashenko crush protests in 2020. Mr. Lukashenko allowed "
            "Russia to use his country. U.S. officials have warned of a “full-fledged defense "
            "partnership.” The U.S. Senate met on Jan. 5 with Dr. Smith.")
    spans = sentence_spans(text)
    sents = [text[s:e] for s, e in spans]
    assert sents == [
        "Russia’s closest regional ally, Belarus became reliant on Moscow after it helped "
        "President Aleksandr G. Lukashenko crush protests in 2020.",
        "Mr. Lukashenko allowed Russia to use his country.",
        "U.S. officials have warned of a “full-fledged defense partnership.”",
        "The U.S. Senate met on Jan. 5 with Dr. Smith.",
    ]


def test_sentences_never_cross_lines():
    text = "First line without stop\nSecond line. Third one."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "First line without stop", "Second line.", "Third one."]


def test_headings_are_short_label_lines():
    text = ("Intro sentence that is long enough to be prose.\nIRAN\nRussia has reached out to "
            "Iran for drones.\nSouth Africa\nLong friendly with Russia, South Africa leaned in.\n"
            "Here is a look at a few of them:\nSource: Read Full Article")
    heads = [text[b.start:b.end] for b in blocks(text) if b.is_heading]
    assert heads == ["IRAN", "South Africa"]


def test_headline_detection():
    assert looks_like_headline("Besides China, Russia Maintains Warm Relations With These Countries")
    assert not looks_like_headline("The sanctions imposed by the US were intended to isolate it.")
    assert not looks_like_headline("")


def test_over_long_sentences_and_words_are_cut_into_bounded_spans():
    from assistant.text import LONG_WORD_CHARS, MAX_SENTENCE_WORDS, word_spans

    run = " ".join(f"w{i}" for i in range(250))
    text = f"A short sentence. {run} and {'z' * 250}. Last one."
    spans = sentence_spans(text)
    assert text[spans[0][0]:spans[0][1]] == "A short sentence."
    assert text[spans[-1][0]:spans[-1][1]] == "Last one."
    middle = spans[1:-1]
    assert len(middle) == 3  # 250 words + "and" + 3 pieces of the long word: 254 in runs of 100
    for s, e in middle:
        assert len(word_spans(text, s, e)) <= MAX_SENTENCE_WORDS
    assert "".join(text[s:e] + " " for s, e in middle).strip() == f"{run} and {'z' * 250}."
    assert [e - s for s, e in word_spans("z" * 250)] == [LONG_WORD_CHARS, LONG_WORD_CHARS, 50]


def test_stems_are_snowballs_in_every_thread():
    # The C stemmer (PyStemmer) is a dependency for speed; its stems must be the pure-Python
    # Snowball English stems the ranking models were trained on, whichever thread asks.
    words = ("supplied supplies supplying generously running runner's ran countries country "
             "nationalization naïve résumé cafés 1990s sanctions sanctioned drones internationally "
             "skies dying lying news proceedings exceedingly succeeding argued arguing").split()
    want = EnglishStemmer().stemWords(words)
    text_module._STEMS.clear()  # stem them afresh, not from the memo
    assert stems(words) == want
    assert type(text_module._stemmer()).__module__ == "Stemmer"
    got: list[list[str]] = []
    threads = [threading.Thread(target=lambda: got.append(text_module._stemmer().stemWords(words)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4
