"""Reading sources: formats, metadata, and clear errors for bad input (no model needed)."""

import json

import pytest

from assistant.errors import (
    BinarySourceError,
    EmptySourceError,
    EncodingError,
    MalformedSourceError,
    MissingSourceError,
    SourceError,
    TooLargeError,
    UnsupportedSourceError,
)
from assistant.ingest import iter_documents
from assistant.models import Document

from .conftest import CORPUS, SEEDS

MB = 1024 * 1024


def read(path, max_bytes=20 * MB):
    return list(iter_documents([path], max_bytes=max_bytes))


def test_seed_files_keep_their_names_and_get_titles():
    docs = read(CORPUS)
    assert [d.doc_id for d in docs] == list(SEEDS)
    assert all(isinstance(d, Document) for d in docs)
    first, second = docs
    assert first.title is None  # its first line is a sentence, not a headline
    assert first.text.startswith("The sanctions imposed by the US")
    assert second.title == "Besides China, Russia Maintains Warm Relations With These Countries"
    assert second.text.startswith("The state visit by China’s leader")
    assert first.source == SEEDS[0]


def test_markdown_front_matter_and_markup(tmp_path):
    (tmp_path / "a.md").write_text(
        "---\ntitle: Grain deal\npublisher: Daily Planet\npublished: 2024-03-05\n"
        "author: Lois Lane\nurl: https://example.org/grain\n---\n"
        "# Grain deal\n\nTurkey **helped** broker a [deal](https://x) on grain.\n\n"
        "## Prisoners\n\nSwaps were agreed.\n", encoding="utf-8")
    (doc,) = read(tmp_path / "a.md")
    assert doc.title == "Grain deal"
    assert doc.publisher == "Daily Planet" and doc.author == "Lois Lane"
    assert doc.published == "2024-03-05" and doc.url == "https://example.org/grain"
    assert doc.text == "Turkey helped broker a deal on grain.\nPrisoners\nSwaps were agreed."


def test_html_main_text_without_scripts_styles_navigation(tmp_path):
    (tmp_path / "p.html").write_text("""<!doctype html><html><head>
      <title>Site | Story</title><meta property="og:title" content="Ankara hosts talks">
      <meta property="og:site_name" content="Wire"><meta name="author" content="A. Writer">
      <meta property="article:published_time" content="2024-05-01T10:00:00Z">
      <link rel="canonical" href="https://wire.example/ankara">
      <style>p { color: red }</style><script>alert('x')</script></head>
      <body><nav><a href="/">Home</a> | <a href="/world">World</a></nav>
      <header>Subscribe now</header>
      <article><h1>Ankara hosts talks</h1><p>Turkey <b>hosted</b> talks on &amp; about grain.</p>
      <p>Both sides agreed.<br>More later.</p><script>document.write('evil')</script></article>
      <footer>© Wire</footer></body></html>""", encoding="utf-8")
    (doc,) = read(tmp_path / "p.html")
    assert doc.title == "Ankara hosts talks"
    assert doc.publisher == "Wire" and doc.author == "A. Writer"
    assert doc.published.startswith("2024-05-01") and doc.url == "https://wire.example/ankara"
    assert doc.text == "Turkey hosted talks on & about grain.\nBoth sides agreed.\nMore later."


def test_deeply_nested_html_does_not_crash(tmp_path):
    (tmp_path / "deep.html").write_text("<div>" * 20000 + "Deep text here." + "</div>" * 20000)
    (doc,) = read(tmp_path / "deep.html")
    assert doc.text == "Deep text here."


def test_jsonl_records_with_metadata(tmp_path):
    lines = [
        {"id": "a1", "title": "T1", "text": "Alpha text.", "publisher": "P", "published": "2023-01-02"},
        {"_id": 7, "title": "T2", "text": "Beta text.", "url": "https://x/b", "author": "Au"},
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    a, b = read(tmp_path / "c.jsonl")
    assert (a.doc_id, a.title, a.publisher, a.published, a.source) == ("a1", "T1", "P", "2023-01-02", "c.jsonl")
    assert (b.doc_id, b.url, b.author, b.text) == ("7", "https://x/b", "Au", "Beta text.")


@pytest.mark.parametrize("name,content,error,words", [
    ("empty.txt", b"", EmptySourceError, "empty"),
    ("blank.txt", b"  \n\t\n", EmptySourceError, "no text"),
    ("bin.txt", b"abc\x00\x01\x02def", BinarySourceError, "binary"),
    ("doc.txt", b"%PDF-1.7 not really text", BinarySourceError, "PDF"),
    ("latin1.txt", "caf\u00e9 cr\u00e8me".encode("latin-1"), EncodingError, "UTF-8"),
    ("bad.md", b"---\ntitle: [unclosed\n---\nbody", MalformedSourceError, "front matter"),
    ("empty.html", b"<html><script>x()</script><nav>menu</nav></html>", EmptySourceError, "readable"),
])
def test_bad_files_get_one_line_errors_naming_file_and_problem(tmp_path, name, content, error, words):
    (tmp_path / name).write_bytes(content)
    (item,) = read(tmp_path / name)
    assert isinstance(item, error)
    message = str(item)
    assert name in message and words in message and "\n" not in message


def test_huge_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.txt"
    with big.open("wb") as fh:
        fh.truncate(50 * MB)  # sparse: 50 MB of size, no disk
    (item,) = read(big)
    assert isinstance(item, TooLargeError)
    assert "big.txt" in str(item) and "50.0 MB" in str(item) and "ASSISTANT_MAX_FILE_MB" in str(item)


def test_malformed_jsonl_lines_are_reported_and_good_lines_kept(tmp_path):
    (tmp_path / "m.jsonl").write_text(
        '{"id": "ok1", "text": "Fine."}\n{not json}\n[1, 2]\n{"id": "x"}\n{"text": "no id"}\n'
        '{"id": "ok2", "text": "Also fine.", "published": "last week"}\n{"id": "ok3", "text": "Good."}\n')
    items = read(tmp_path / "m.jsonl")
    docs = [i for i in items if isinstance(i, Document)]
    errors = [i for i in items if isinstance(i, SourceError)]
    assert [d.doc_id for d in docs] == ["ok1", "ok3"]
    assert [e.line for e in errors] == [2, 3, 4, 5, 6]
    assert all(str(e).startswith(f"{tmp_path / 'm.jsonl'}:{e.line}: ") for e in errors)
    assert "invalid JSON" in str(errors[0]) and "'published'" in str(errors[-1])


def test_missing_and_unsupported_paths(tmp_path):
    (tmp_path / "x.pdfx").write_text("hello")
    missing, unsupported = read(tmp_path / "nope.txt") + read(tmp_path / "x.pdfx")
    assert isinstance(missing, MissingSourceError) and "nope.txt" in str(missing)
    assert isinstance(unsupported, UnsupportedSourceError) and ".pdfx" in str(unsupported)


def test_folder_walk_skips_hidden_and_reports_unknown_files(tmp_path):
    from assistant.models import NotIngested

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("A sentence.")
    (tmp_path / ".hidden.txt").write_text("Hidden.")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01")
    doc, skipped = sorted(read(tmp_path), key=lambda i: isinstance(i, NotIngested))
    assert doc.doc_id == "sub/a.txt"
    assert skipped == NotIngested((tmp_path / "notes.bin").as_posix(), "unsupported file type '.bin'")


def test_unclosed_front_matter_is_reported(tmp_path):
    (tmp_path / "open.md").write_text("---\ntitle: Never closed\npublisher: Wire\n\nBody text here.\n",
                                      encoding="utf-8")
    (tmp_path / "rule.md").write_text("---\nA page that opens with a rule.\n", encoding="utf-8")
    (tmp_path / "update.md").write_text("---\nUpdate: the ministry replied.\n", encoding="utf-8")
    items = {getattr(i, "doc_id", None) or i.path: i for i in iter_documents([tmp_path], max_bytes=10**6)}
    err = items[str(tmp_path / "open.md")]
    assert isinstance(err, MalformedSourceError) and "never closed" in str(err)
    assert items["rule.md"].text == "A page that opens with a rule."
    assert items["update.md"].text == "Update: the ministry replied."


def test_ids_with_control_characters_are_refused(tmp_path):
    lines = [json.dumps({"id": "fine-1", "text": "Good."}), json.dumps({"id": "bad\r\nid", "text": "x"}),
             json.dumps({"id": "nul\u0000", "text": "x"})]
    (tmp_path / "feed.jsonl").write_text("\n".join(lines), encoding="utf-8")
    items = list(iter_documents([tmp_path / "feed.jsonl"], max_bytes=10**6))
    assert items[0].doc_id == "fine-1"
    for err, line in zip(items[1:], (2, 3), strict=True):
        assert isinstance(err, MalformedSourceError) and err.line == line
        assert "control character" in str(err)


def test_common_date_forms_are_read_and_a_bad_one_is_named(tmp_path):
    (tmp_path / "d.jsonl").write_text(
        '{"id": "a", "text": "One.", "published": "2024/01/08"}\n'
        '{"id": "b", "text": "Two.", "published": "8 Jan 2024"}\n'
        '{"id": "c", "text": "Three.", "published": "Mon, 08 Jan 2024 10:00:00 GMT"}\n'
        '{"id": "d", "text": "Four.", "published": "January 2024"}\n')
    items = read(tmp_path / "d.jsonl")
    docs = {i.doc_id: i.published for i in items if isinstance(i, Document)}
    assert docs == {"a": "2024-01-08", "b": "2024-01-08", "c": "2024-01-08T10:00:00+00:00"}
    (error,) = [i for i in items if isinstance(i, SourceError)]
    assert error.line == 4 and "'published'" in str(error) and "'January 2024'" in str(error)


def test_documents_are_counted_before_reading(tmp_path):
    from assistant.ingest.sources import count_documents

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("One.", encoding="utf-8")
    (tmp_path / "a" / "photo.png").write_bytes(b"\x89PNG")
    (tmp_path / "a" / ".hidden.txt").write_text("Hidden.", encoding="utf-8")
    records = "".join(f'{{"id": "r{i}", "text": "Record {i}."}}\n' for i in range(5))
    (tmp_path / "feed.jsonl").write_text(records + "\n", encoding="utf-8")
    # The progress bar's total: one per readable file, one per JSONL record, known up front.
    assert count_documents([tmp_path / "a", tmp_path / "feed.jsonl", tmp_path / "gone"]) == 6
