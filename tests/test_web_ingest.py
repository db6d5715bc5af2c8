"""Ingesting from the web: article pages, RSS feeds and sitemaps served by a local HTTP server;
the SSRF guard, robots.txt, conditional re-fetching and the size limit."""

from __future__ import annotations

import hashlib
import http.server
import threading
from email.utils import formatdate

import pytest

from assistant.errors import BlockedURLError, FetchError, TooLargeError
from assistant.ingest.web import AddressGuard, is_url, iter_web
from assistant.models import Document, Unchanged


def _article(title: str, body: list[str], *, author: str, date: str, canonical: str) -> str:
    paras = "".join(f"<p>{p}</p>" for p in body)
    return (f"<!doctype html><html><head><title>{title} | Harbour Gazette</title>"
            f'<meta property="og:title" content="{title}">'
            '<meta property="og:site_name" content="Harbour Gazette">'
            f'<meta name="author" content="{author}">'
            f'<meta property="article:published_time" content="{date}">'
            f'<link rel="canonical" href="{canonical}"></head><body>'
            "<nav><a href='/'>Home</a> | <a href='/port'>Port</a> | Subscribe now</nav>"
            f"<article><h1>{title}</h1>{paras}</article>"
            "<footer>Copyright Harbour Gazette. All rights reserved.</footer></body></html>")


FERRY = _article("Night ferry returns to the island route", [
    "The night ferry between Port Alder and Wren Island resumes sailing on Monday, the harbour "
    "authority said.",
    "The service was suspended in March after its only vessel failed an engine inspection.",
    "A rebuilt engine was fitted in the shipyard at Kestrel Point over the summer.",
], author="Mara Quill", date="2024-09-02T08:00:00Z", canonical="https://gazette.example/ferry")
BRIDGE = _article("Toll bridge fares rise by a third", [
    "Fares on the Alder toll bridge rise from three to four crowns next month.",
    "The bridge trust says the money pays for new cables on the northern span.",
    "Commuters' groups have asked the council to cap the rise for residents.",
], author="Ivo Brandt", date="2024-09-05T07:30:00Z", canonical="https://gazette.example/bridge")
SECRET = _article("Internal memo", ["This page is closed to crawlers by robots.txt."] * 3,
                  author="Nobody", date="2024-09-01", canonical="https://gazette.example/memo")


class Site:
    """A local news site: pages with ETags (304 on a match), a feed, sitemaps, a redirect."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.redirects: dict[str, str] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                site.requests.append((self.path, dict(self.headers)))
                if self.path in site.redirects:
                    self.send_response(302)
                    self.send_header("Location", site.redirects[self.path])
                    self.end_headers()
                    return
                if self.path not in site.pages:
                    self.send_error(404)
                    return
                ctype, body = site.pages[self.path]
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", formatdate(usegmt=True))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: str, ctype: str = "text/html; charset=utf-8") -> str:
        self.pages[path] = (ctype, body.encode("utf-8"))
        return self.base + path

    def paths(self) -> list[str]:
        return [p for p, _ in self.requests]


@pytest.fixture
def site():
    s = Site()
    s.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", "text/plain")
    s.add("/news/ferry", FERRY)
    s.add("/news/bridge", BRIDGE)
    s.add("/private/memo", SECRET)
    items = "".join(
        f"<item><title>{t}</title><link>{s.base}{p}</link><author>desk@gazette.example</author>"
        f"<pubDate>{d}</pubDate></item>"
        for t, p, d in (("Ferry", "/news/ferry", "Mon, 02 Sep 2024 08:00:00 GMT"),
                        ("Bridge", "/news/bridge", "Thu, 05 Sep 2024 07:30:00 GMT"),
                        ("Memo", "/private/memo", "Sun, 01 Sep 2024 07:30:00 GMT")))
    s.add("/feed.xml", f'<?xml version="1.0"?><rss version="2.0"><channel><title>Harbour '
          f"Gazette</title><link>{s.base}/</link>{items}</channel></rss>", "application/rss+xml")
    s.add("/sitemap-news.xml", '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/'
          f'schemas/sitemap/0.9"><url><loc>{s.base}/news/ferry</loc></url><url><loc>{s.base}'
          "/news/bridge</loc></url></urlset>", "application/xml")
    s.add("/sitemap.xml", '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/'
          f'schemas/sitemap/0.9"><sitemap><loc>{s.base}/sitemap-news.xml</loc></sitemap>'
          "</sitemapindex>", "application/xml")
    yield s
    s.server.shutdown()


def _local(make_settings, **kw):
    return make_settings(fetch_allowed_hosts="127.0.0.1", **kw)


def test_urls_are_told_from_paths():
    assert is_url("https://news.example/a") and is_url("file:///etc/passwd")
    assert not is_url("corpus/") and not is_url("C:\\news\\a.txt")


def test_loopback_is_refused_unless_allowed(site, make_settings):
    items = list(iter_web([site.base + "/news/ferry"], settings=make_settings()))
    assert len(items) == 1 and isinstance(items[0], BlockedURLError)
    assert "ASSISTANT_FETCH_ALLOWED_HOSTS" in str(items[0]) and "127.0.0.1" in str(items[0])
    assert site.requests == []  # not one request reached the server


@pytest.mark.parametrize("address", ["10.1.2.3", "169.254.169.254", "::1", "::ffff:127.0.0.1",
                                     "192.168.0.7", "100.64.0.1", "fd00::1"])
def test_private_and_reserved_addresses_are_blocked(address):
    with pytest.raises(BlockedURLError, match="private, loopback or reserved"):
        AddressGuard(frozenset(), ()).check_address("http://x.example/", address)
    AddressGuard(frozenset(), ()).check_address("http://x.example/", "93.184.216.34")


def test_only_http_urls_are_fetched(make_settings):
    for url in ("file:///etc/passwd", "ftp://files.example/a.txt", "gopher://x.example/"):
        (item,) = iter_web([url], settings=make_settings())
        assert isinstance(item, BlockedURLError) and "only http:// and https://" in str(item)


def test_article_page_gives_text_and_metadata(site, make_settings):
    items = list(iter_web([site.base + "/news/ferry"], settings=_local(make_settings)))
    (doc,) = items
    assert isinstance(doc, Document)
    assert doc.doc_id == doc.source == site.base + "/news/ferry"
    assert doc.title == "Night ferry returns to the island route"
    assert (doc.author, doc.publisher, doc.published) == ("Mara Quill", "Harbour Gazette",
                                                         "2024-09-02")
    assert doc.url == "https://gazette.example/ferry"
    assert "Kestrel Point" in doc.text and "Subscribe" not in doc.text
    assert "Copyright" not in doc.text and not doc.text.startswith("Night ferry")
    paths = site.paths()
    assert paths.count("/robots.txt") == 1 and "/news/ferry" in paths
    ua = site.requests[-1][1].get("User-Agent", "")
    assert ua.startswith("assistant-ingest/")


def test_feed_fetches_each_entry_once_and_obeys_robots(site, make_settings):
    settings = _local(make_settings)
    items = list(iter_web([site.base + "/feed.xml"], settings=settings,
                          log_path=settings.index / "fetched.sqlite"))
    docs = sorted((i for i in items if isinstance(i, Document)), key=lambda d: d.title)
    assert [d.title for d in docs] == ["Night ferry returns to the island route",
                                       "Toll bridge fares rise by a third"]
    errors = [i for i in items if isinstance(i, FetchError)]
    assert len(errors) == 1 and "robots.txt" in str(errors[0]) and "/private/memo" in str(errors[0])
    assert "/private/memo" not in site.paths()
    assert site.paths().count("/news/ferry") == 1 and site.paths().count("/robots.txt") == 1

    # Again, with both pages in the index: conditional requests, answered 304, read as unchanged.
    site.requests.clear()
    again = list(iter_web([site.base + "/feed.xml"], settings=settings,
                          log_path=settings.index / "fetched.sqlite",
                          is_indexed=lambda doc_id: doc_id.endswith(("/ferry", "/bridge"))))
    assert sorted(i.source for i in again if isinstance(i, Unchanged)) == [
        site.base + "/news/bridge", site.base + "/news/ferry"]
    conditional = [h for p, h in site.requests if p == "/news/ferry"]
    assert conditional and conditional[0].get("If-None-Match")

    # A page missing from the index is fetched whole, whatever the log says.
    site.requests.clear()
    third = list(iter_web([site.base + "/news/ferry"], settings=settings,
                          log_path=settings.index / "fetched.sqlite"))
    assert isinstance(third[0], Document)
    assert "If-None-Match" not in site.requests[-1][1]


def test_sitemap_index_leads_to_pages(site, make_settings):
    items = list(iter_web([site.base + "/sitemap.xml"], settings=_local(make_settings)))
    assert sorted(i.doc_id for i in items if isinstance(i, Document)) == [
        site.base + "/news/bridge", site.base + "/news/ferry"]


def test_page_budget_is_reported(site, make_settings):
    items = list(iter_web([site.base + "/sitemap-news.xml"],
                          settings=_local(make_settings, fetch_max_pages=1)))
    assert sum(isinstance(i, Document) for i in items) == 1
    (err,) = [i for i in items if isinstance(i, FetchError)]
    assert "ASSISTANT_FETCH_MAX_PAGES" in str(err) and "1 more page" in str(err)


def test_redirect_to_a_blocked_address_is_not_followed(site, make_settings):
    site.redirects["/go"] = "http://169.254.169.254/latest/meta-data/"
    (item,) = iter_web([site.base + "/go"], settings=_local(make_settings))
    assert isinstance(item, BlockedURLError) and "169.254.169.254" in str(item)


def test_oversized_page_is_refused(site, make_settings):
    site.add("/news/huge", _article("Huge", ["word " * 400_000], author="A", date="2024-01-01",
                                    canonical="https://gazette.example/huge"))
    (item,) = iter_web([site.base + "/news/huge"], settings=_local(make_settings, max_file_mb=1))
    assert isinstance(item, TooLargeError) and "ASSISTANT_MAX_FILE_MB" in str(item)


def test_http_errors_name_the_status(site, make_settings):
    (item,) = iter_web([site.base + "/news/gone"], settings=_local(make_settings))
    assert isinstance(item, FetchError) and "HTTP 404" in str(item)


def test_bad_allow_list_is_named(make_settings):
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="ASSISTANT_FETCH_ALLOWED_HOSTS"):
        make_settings(fetch_allowed_hosts="10.0.0.0/99").fetch_allowed()


@pytest.mark.slow
def test_cli_ingests_a_feed_then_skips_it_unchanged(site, tmp_path):
    from tests.conftest import run_cli

    env = {"ASSISTANT_INDEX": str(tmp_path / "index"), "ASSISTANT_FETCH_ALLOWED_HOSTS": "127.0.0.1"}
    first = run_cli("ingest", "--json", site.base + "/feed.xml", env=env)
    assert first.returncode == 2, first.stderr  # the robots.txt refusal is an error
    assert "robots.txt" in first.stderr
    import json

    report = json.loads(first.stdout)
    assert report["documents"] == 2 and report["skipped"] == 0
    second = json.loads(run_cli("ingest", "--json", site.base + "/feed.xml", env=env).stdout)
    assert second["documents"] == 0 and second["skipped"] == 2
    found = run_cli("search", "--json", "When does the night ferry sail again?", env=env)
    hit = json.loads(found.stdout)["results"][0]
    assert hit["doc_id"] == site.base + "/news/ferry"


@pytest.mark.slow
def test_http_api_ingests_urls_with_a_key(site, tmp_path, seeds_index):
    import shutil

    from tests.test_api import served

    index = tmp_path / "index"
    shutil.copytree(seeds_index.index, index)
    env = {"ASSISTANT_API_KEYS": "k1", "ASSISTANT_FETCH_ALLOWED_HOSTS": "127.0.0.1"}
    with served(index, tmp_path, env=env) as srv:
        body = {"urls": [site.base + "/news/ferry", site.base + "/sitemap-news.xml"]}
        assert srv.client.post("/v1/ingest/urls", json=body).status_code == 401
        bad = srv.client.post("/v1/ingest/urls", json={"urls": ["file:///etc/passwd"]},
                              headers={"Authorization": "Bearer k1"})
        assert bad.status_code == 422 and "urls[0] must be an http://" in bad.json()["message"]
        r = srv.client.post("/v1/ingest/urls", json=body, headers={"Authorization": "Bearer k1"})
        assert r.status_code == 201, r.text
        assert sorted(r.json()["added"]) == [site.base + "/news/bridge", site.base + "/news/ferry"]
        hits = srv.client.post("/v1/search", json={"query": "toll bridge fares"}).json()["results"]
        top = hits[0]
        assert top["doc_id"] == site.base + "/news/bridge" and top["publisher"] == "Harbour Gazette"
        doc = srv.client.get("/v1/documents/" + top["doc_id"]).json()
        assert doc["text"][top["char_start"]:top["char_end"]] == top["text"]
