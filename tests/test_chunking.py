"""Chunking: exact offsets, whole sentences, sections, overlap, validation."""

import pytest

from assistant.errors import ConfigError
from assistant.ingest import Chunker, iter_documents
from assistant.text import sentence_spans, word_spans

from .conftest import CORPUS


def seed_docs():
    docs = list(iter_documents([CORPUS], max_bytes=10**8))
    assert len(docs) == 2
    return docs


@pytest.mark.parametrize("size,overlap", [(160, 1), (40, 0), (20, 2), (500, 3)])
def test_every_chunk_is_an_exact_slice_of_whole_sentences(size, overlap):
    chunker = Chunker(size=size, overlap=overlap)
    for doc in seed_docs():
        chunks = chunker.split(doc)
        assert chunks, doc.doc_id
        sentences = sentence_spans(doc.text)
        short = [(s, e) for s, e in sentences if len(word_spans(doc.text, s, e)) <= size]
        for i, c in enumerate(chunks):
            assert doc.text[c.char_start:c.char_end] == c.text
            assert c.ordinal == i
            assert len(word_spans(c.text)) <= size  # never longer than the size
            for s, e in short:  # never cuts a sentence that fits
                assert e <= c.char_start or s >= c.char_end or c.char_start <= s < e <= c.char_end
            # A cut falls between words.
            assert c.char_start == 0 or doc.text[c.char_start - 1] in " \n"
            assert c.char_end == len(doc.text) or doc.text[c.char_end] in " \n"


def test_a_long_run_without_sentence_breaks_is_cut_at_words():
    from assistant.models import Document

    text = "Ledger\n" + " ".join(f"item{i}" for i in range(1000)) + " " + "x" * 350
    chunks = Chunker(size=100, overlap=1).split(Document(doc_id="d", source="d", text=text))
    assert all(len(word_spans(c.text)) <= 100 for c in chunks)
    assert chunks[0].text.startswith("item0 ") and chunks[-1].text.endswith("x" * 50)
    covered = " ".join(text[c.char_start:c.char_end] for c in chunks) + " "
    assert all(f"item{i} " in covered for i in range(1000))  # nothing is lost between chunks


def test_sections_follow_headings():
    docs = {d.doc_id: d for d in seed_docs()}
    chunks = Chunker().split(docs["000_2f93d0e16d5e9d82.txt"])
    by_section = {c.section for c in chunks}
    assert {"CHINA", "IRAN", "TURKEY", "SAUDI ARABIA", "NORTH KOREA"} <= by_section
    iran = [c for c in chunks if c.section == "IRAN"]
    assert any("Bushehr" in c.text for c in iran)
    # A heading is never inside a chunk's text.
    assert not any(c.text.startswith("IRAN") for c in chunks)
    belarus = [c for c in Chunker().split(docs["001_fdf6e125b4f7dd26.txt"]) if c.section == "Belarus"]
    assert belarus and "Aleksandr G. Lukashenko crush" in belarus[0].text


def test_overlap_repeats_whole_sentences():
    doc = seed_docs()[0]
    chunks = Chunker(size=60, overlap=1).split(doc)
    checked = 0
    for a, b in zip(chunks, chunks[1:]):
        sents = [a.text[s:e] for s, e in sentence_spans(a.text)]
        if a.section != b.section or len(sents) < 2:
            continue  # overlap never crosses a heading; a one-sentence chunk cannot share
        assert b.text.startswith(sents[-1])
        assert b.char_start < a.char_end
        checked += 1
    assert checked >= 3


def test_long_sentence_is_its_own_chunk():
    from assistant.models import Document

    long = "word " * 100
    doc = Document(doc_id="d", source="d", text=f"Short one. {long.strip()}. Another short.")
    chunks = Chunker(size=20, overlap=0).split(doc)
    assert [c.text for c in chunks][1].startswith("word word")
    assert all(doc.text[c.char_start:c.char_end] == c.text for c in chunks)


@pytest.mark.parametrize("size,overlap", [(5, 0), (100, -1), (40, 5), ("big", 1)])
def test_invalid_settings_say_what_to_change(size, overlap):
    with pytest.raises(ConfigError) as err:
        Chunker(size=size, overlap=overlap)
    assert "chunk" in str(err.value)
