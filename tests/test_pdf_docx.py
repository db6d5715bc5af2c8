"""PDF and Word files: their text and metadata read, and every file of another type found in a
folder reported as skipped, with the reason."""

from __future__ import annotations

import json

import pytest

from assistant.errors import EmptySourceError, MalformedSourceError
from assistant.ingest.sources import iter_documents
from assistant.models import Document, NotIngested


def make_pdf(lines, *, title=None, author=None):
    """A one-page PDF whose text layer holds `lines` (Helvetica, one Tj per line)."""
    def esc(t):
        return t.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = "BT /F1 11 Tf 14 TL 72 760 Td " + " ".join(f"({esc(line)}) Tj T*" for line in lines) + " ET"
    info = []
    if title: info.append(f"/Title ({esc(title)})")
    if author: info.append(f"/Author ({esc(author)})")
    objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content)} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        "<< " + " ".join(info) + " >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, o in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n{o}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objs)+1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs)+1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def make_docx(path, paragraphs, *, title=None, author=None, heading=None):
    import docx

    d = docx.Document()
    if heading:
        d.add_heading(heading, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "Span", "310 m"
    if title:
        d.core_properties.title = title
    d.core_properties.author = author or ""
    d.save(str(path))


BREAKWATER = ["Breakwater approved",
              "The harbour authority approved a new breakwater on",
              "Tuesday, after two years of debate over its cost.",
              "Construction starts in spring and should take eigh-",
              "teen months."]


def test_pdf_text_and_metadata(tmp_path):
    (tmp_path / "breakwater.pdf").write_bytes(make_pdf(BREAKWATER, title="Breakwater approved",
                                                       author="Mara Quill"))
    (doc,) = iter_documents([tmp_path / "breakwater.pdf"], max_bytes=2**20)
    assert isinstance(doc, Document) and doc.doc_id == "breakwater.pdf"
    assert (doc.title, doc.author) == ("Breakwater approved", "Mara Quill")
    # Lines broken by the page are one sentence again; the hyphenated word is whole.
    assert doc.text == ("The harbour authority approved a new breakwater on Tuesday, after two "
                        "years of debate over its cost.\nConstruction starts in spring and "
                        "should take eighteen months.")


def test_pdf_without_text_layer_says_so(tmp_path):
    (tmp_path / "scan.pdf").write_bytes(make_pdf([]))
    (err,) = iter_documents([tmp_path / "scan.pdf"], max_bytes=2**20)
    assert isinstance(err, EmptySourceError) and "no text layer" in str(err)


def test_damaged_pdf_and_docx_are_named(tmp_path):
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog")
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    errs = list(iter_documents([tmp_path / "broken.pdf", tmp_path / "broken.docx"],
                               max_bytes=2**20))
    assert all(isinstance(e, (MalformedSourceError, EmptySourceError)) for e in errs), errs
    assert "broken.pdf" in str(errs[0]) and "Word" in str(errs[1])


def test_docx_paragraphs_tables_and_heading_title(tmp_path):
    make_docx(tmp_path / "bridge.docx", ["Fares on the toll bridge rise next month.",
                                         "The trust pays for new cables with the money."],
              heading="Toll bridge fares rise", author="Ivo Brandt")
    (doc,) = iter_documents([tmp_path / "bridge.docx"], max_bytes=2**20)
    assert (doc.title, doc.author) == ("Toll bridge fares rise", "Ivo Brandt")
    assert doc.text == ("Fares on the toll bridge rise next month.\nThe trust pays for new "
                        "cables with the money.\nSpan | 310 m")


def test_folder_reports_every_skipped_file(tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "breakwater.pdf").write_bytes(make_pdf(BREAKWATER))
    make_docx(folder / "bridge.docx", ["Fares on the toll bridge rise next month."],
              title="Bridge fares")
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n....")
    (folder / "notes.xyz").write_text("hello", encoding="utf-8")
    (folder / ".DS_Store").write_bytes(b"\x00\x00")
    items = list(iter_documents([folder], max_bytes=2**20))
    assert sorted(i.doc_id for i in items if isinstance(i, Document)) == [
        "breakwater.pdf", "bridge.docx"]
    skipped = sorted((i.source.rsplit("/", 1)[-1], i.reason) for i in items
                     if isinstance(i, NotIngested))
    assert skipped == [("notes.xyz", "unsupported file type '.xyz'"),
                       ("photo.png", "unsupported file type '.png'")]


@pytest.mark.slow
def test_cli_ingest_names_skipped_files(tmp_path):
    from tests.conftest import run_cli

    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "breakwater.pdf").write_bytes(make_pdf(BREAKWATER))
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n....")
    out = run_cli("ingest", "--json", str(folder), env={"ASSISTANT_INDEX": str(tmp_path / "i")})
    assert out.returncode == 0, out.stderr
    assert f"skipped: {folder.as_posix()}/photo.png: unsupported file type '.png'" in out.stderr
    report = json.loads(out.stdout)
    assert report["documents"] == 1 and report["not_ingested"] == [
        {"path": f"{folder.as_posix()}/photo.png", "reason": "unsupported file type '.png'"}]
    found = json.loads(run_cli("search", "--json", "When does breakwater construction start?",
                               env={"ASSISTANT_INDEX": str(tmp_path / "i")}).stdout)
    assert found["results"][0]["doc_id"] == "breakwater.pdf"
