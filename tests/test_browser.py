"""The chat widget, its demo page and the newsroom desk, in a real browser.

Debian's chromium driven by Playwright, against a real `assistant serve` with keyed reads (so the
widget's token flow is exercised), and the widget embedded in a page on a SECOND origin that
carries hostile CSS. Screenshots at phone and desktop widths go to tests/artifacts/.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.ingest import ingest

from . import test_api
from .conftest import CORPUS, SEEDS
from .test_api import Server, free_port

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`; "
                "CI's .ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed: pip install -e '.[test]'")

sync_api.expect.set_options(timeout=20_000)  # answers and checks on a slow CI machine

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
KEY = "browser-test-key"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PUTIN = "Why did Putin attend the BRICS summit in Johannesburg virtually?"
TURKEY = "Turkey has joined Western sanctions against Russia."

# A page that does its worst to anything it contains: none of it may reach inside the widget.
HOSTILE_CSS = """
html { font-size: 5px; }
body { font: italic 28px/3 "Comic Sans MS", cursive; color: #f0f; text-transform: uppercase;
       letter-spacing: 4px; background: #fffbe6; margin: 40px; }
* { box-sizing: content-box !important; }
button, textarea, input { all: unset !important; font-size: 40px !important;
                          background: #0f0 !important; }
div, section, p, article, span, mark, ol, li, h2, h3 { padding: 30px !important;
                          border: 3px dashed red !important; }
assistant-widget { display: none !important; position: absolute !important;
                   top: -9999px !important; }
:root { --accent: #f00; --ink: #0f0; }
"""


def host_page(widget_src: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Zembla Gazette</title><style>{HOSTILE_CSS}</style></head>
<body><h1>Zembla Gazette</h1>
<p id="page-text">The host page's own article text.</p>
<script src="{widget_src}" data-title="Ask the Gazette" data-accent="#0b5cad" defer></script>
</body></html>"""


class HostSite:
    """A tiny static site on another 127.0.0.1 port: the host page's origin."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def site():
    s = HostSite()
    yield s
    s.close()


@pytest.fixture(scope="module")
def service(site, tmp_path_factory, embedder):
    """Keyed reads; widget tokens for the host site's origin and the service's own (desk, demo)."""
    from assistant.config import load_settings

    root = tmp_path_factory.mktemp("browser")
    settings = load_settings(index=root / "index")
    ingest([CORPUS], settings=settings, embedder=embedder, progress=False)
    port = free_port()
    own = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:  # Server picks its port; we need it beforehand
        mp.setattr(test_api, "free_port", lambda: port)
        srv = Server(settings.index, root, env={
            "ASSISTANT_API_KEYS": KEY, "ASSISTANT_READ_AUTH": "key",
            "ASSISTANT_CORS_ORIGINS": f"{site.origin},{own}",
            "ASSISTANT_RATE_LIMIT": "10000/minute"})
    assert srv.url == own
    try:
        srv.wait("/readyz")
        site.pages["/article.html"] = host_page(f"{srv.url}/widget.js")
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (own storage) at desktop size; fails the test on page errors."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(20_000)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda m: problems.append(f"console: {m.text}")
          if "Content Security Policy" in m.text else None)
    yield pg
    context.close()
    assert not problems, problems


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def widget(pg):
    """Locators inside the widget's shadow root (Playwright's CSS pierces open shadow roots)."""
    w = pg.locator("assistant-widget")
    return {
        "launcher": w.locator(".launcher"), "panel": w.locator(".panel"),
        "input": w.locator(".input"), "msgs": w.locator(".msgs"), "answers": w.locator(".msg.bot"),
        "source": w.locator(".source"), "context": w.locator(".context"),
        "errors": w.locator(".msg.error"),
    }


def shadow_eval(pg, script: str):
    """Evaluate `script` with `root` bound to the widget's shadow root."""
    return pg.evaluate("() => { const root = document.querySelector('assistant-widget')"
                       f".shadowRoot; return ({script}); }}")


def active_in_widget(pg) -> str:
    return shadow_eval(pg, "root.activeElement ? root.activeElement.className : ''")


def ask(pg, question: str):
    w = widget(pg)
    n = w["answers"].count()
    w["input"].fill(question)
    w["input"].press("Enter")
    answer = w["answers"].nth(n)
    sync_api.expect(answer).to_have_attribute("aria-busy", "false")
    return answer


# ----------------------------------------------------------------------------------- assets

def test_assets_are_served_with_types_and_caching(service):
    c = service.client
    expected = {"/": "text/html", "/desk": "text/html", "/widget.js": "text/javascript",
                "/desk.js": "text/javascript", "/desk.css": "text/css", "/site.css": "text/css",
                "/demo.js": "text/javascript", "/favicon.svg": "image/svg+xml"}
    for path, ctype in expected.items():
        r = c.get(path)
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype), path
        assert r.headers["x-content-type-options"] == "nosniff"
        if ctype == "text/html":  # nothing is loaded from elsewhere (no CDN)
            assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?(https?:)?//""",
                                 r.text), path
        again = c.get(path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and not again.content, path
    js = c.get("/widget.js")
    assert "max-age=3600" in js.headers["cache-control"]
    assert js.headers["cross-origin-resource-policy"] == "cross-origin"
    page = c.get("/desk")
    assert page.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    zipped = httpx.get(f"{service.url}/widget.js", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip" and zipped.text == js.text
    assert c.head("/widget.js").status_code == 200
    # The pages need no key even when reads do; the API still does.
    assert c.post("/v1/ask", json={"question": "oil"}).status_code == 401
    assert c.get("/pyproject.toml").status_code == 404 and c.get("/web/desk.js").status_code == 404


# ----------------------------------------------------------------------------------- widget

def test_widget_on_another_origin_streams_cited_answers_and_survives_reload(page, site, service):
    chats: list[str] = []
    page.on("response", lambda r: chats.append(r.headers.get("content-type", ""))
            if r.url.endswith("/v1/chat") and r.request.method == "POST" else None)
    page.goto(f"{site.origin}/article.html")
    w = widget(page)

    # Keyboard: the launcher opens the panel and focuses the input.
    sync_api.expect(w["launcher"]).to_be_visible()
    assert w["launcher"].get_attribute("aria-label") == "Open chat: Ask the Gazette"
    w["launcher"].focus()
    page.keyboard.press("Enter")
    sync_api.expect(w["panel"]).to_be_visible()
    assert active_in_widget(page) == "input"

    # The host page's hostile CSS does not reach in, and ours does not leak out.
    box = w["panel"].bounding_box()
    assert box and box["width"] == 400 and box["x"] > 600
    styles = shadow_eval(page, """(() => { const s = getComputedStyle(root.querySelector('.input'));
        const t = getComputedStyle(root.querySelector('.title'));
        return [s.fontSize, s.boxSizing, t.textTransform, t.fontStyle, t.fontFamily, t.color];
        })()""")
    assert styles[:4] == ["15px", "border-box", "none", "normal"], styles
    assert "Comic" not in styles[4] and styles[5] != "rgb(255, 0, 255)"
    assert shadow_eval(page, "getComputedStyle(root.querySelector('.launcher')).backgroundColor") \
        == "rgb(11, 92, 173)"  # data-accent
    page_text = page.evaluate("getComputedStyle(document.getElementById('page-text')).fontSize")
    assert page_text == "28px"

    answer = ask(page, PUTIN)
    sync_api.expect(answer).to_contain_text("Ramaphosa convinced Putin")
    assert chats and chats[-1].startswith("text/event-stream")  # streamed, via a widget token
    cite = answer.locator("button.cite").first
    assert cite.get_attribute("aria-label").startswith("Source 1: ")
    cite.click()
    sync_api.expect(w["source"]).to_be_visible()
    # The seed file has no headline: its first words stand in for one (issue 17).
    sync_api.expect(w["source"].locator(".s-title")).to_have_text(
        "The sanctions imposed by the US and western countries sanctions…")
    mark = w["context"].locator("mark")
    sync_api.expect(mark).to_have_text(re.compile(r"^Ramaphosa convinced Putin to skip"))
    # The quote is shown in its context, fetched from GET /v1/documents with the token.
    # The quote shows at once (it ends with this sentence) and its context follows when the
    # document arrives: wait for the context, not only for the quote.
    sync_api.expect(w["context"]).to_contain_text("to decide whether to arrest him.")
    deadline = time.monotonic() + 20
    while (len(w["context"].inner_text()) <= len(mark.inner_text()) + 40
           and time.monotonic() < deadline):
        time.sleep(0.1)
    assert len(w["context"].inner_text()) > len(mark.inner_text()) + 40
    page.screenshot(path=ARTIFACTS / "widget-source-desktop.png")

    # Escape closes the passage (focus back on its [n]), then the panel (focus on the launcher).
    page.keyboard.press("Escape")
    sync_api.expect(w["source"]).to_be_hidden()
    assert active_in_widget(page) == "cite"
    page.keyboard.press("Escape")
    sync_api.expect(w["panel"]).to_be_hidden()
    assert active_in_widget(page) == "launcher"
    w["launcher"].click()

    # An abstention says so plainly.
    none = ask(page, "What is the capital of Australia?")
    sync_api.expect(none.locator(".notice")).to_have_text("The sources do not answer this.")
    answer_count = w["answers"].count()
    page.screenshot(path=ARTIFACTS / "widget-desktop.png")

    # A reload in the same tab keeps the conversation (and the open panel).
    page.reload()
    w = widget(page)
    sync_api.expect(w["panel"]).to_be_visible()
    sync_api.expect(w["answers"]).to_have_count(answer_count)
    sync_api.expect(w["msgs"]).to_contain_text(PUTIN)
    sync_api.expect(w["answers"].first).to_contain_text("Ramaphosa convinced Putin")
    follow = ask(page, "And why was Pretoria worried?")  # same conversation continues
    sync_api.expect(follow).to_be_visible()
    w["answers"].first.locator("button.cite").first.click()
    sync_api.expect(w["context"].locator("mark")).to_contain_text("Ramaphosa convinced Putin")

    # Phone widths: the panel fills the screen and nothing overflows.
    page.set_viewport_size(PHONE)
    page.screenshot(path=ARTIFACTS / "widget-source-phone.png")
    page.keyboard.press("Escape")
    page.screenshot(path=ARTIFACTS / "widget-phone.png")
    page.set_viewport_size({"width": 360, "height": 740})
    box = w["panel"].bounding_box()
    assert box["x"] == 0 and box["width"] == 360
    send = shadow_eval(page, "root.querySelector('.send').getBoundingClientRect().right")
    assert send <= 360
    assert shadow_eval(page, "(l => l.scrollWidth <= l.clientWidth)(root.querySelector('.log'))")


def test_widget_renders_source_text_inert(page, site, service):
    doc = {"id": "zembla-fees", "publisher": "Zembla Gazette", "published": "2024-05-06",
           "title": 'Zembla port <img src=x onerror="window.__xss=2"> fees',
           "text": "Zembla harbour fees\n\nThe port authority of Zembla doubled harbour fees for "
                   "grain tankers <script>window.__xss=1</script> on Monday. <img src=x "
                   "onerror=\"window.__xss=1\"> Officials in Zembla said the money would pay for a "
                   "new breakwater."}
    # A javascript: URL is refused at the door, so no citation can ever link to one.
    r = service.client.post("/v1/documents", json={**doc, "url": "javascript:window.__xss=3"},
                            headers=auth())
    assert r.status_code == 422 and "http://" in r.text, r.text
    r = service.client.post("/v1/documents", json=doc, headers=auth())
    assert r.status_code == 201, r.text
    page.goto(f"{site.origin}/article.html")
    w = widget(page)
    w["launcher"].click()
    answer = ask(page, "What will the Zembla harbour fees pay for?")
    sync_api.expect(answer).to_contain_text(
        '<img src=x onerror="window.__xss=1"> Officials in Zembla')
    sync_api.expect(answer.locator(".src-title").first).to_have_text(doc["title"])
    answer.locator("button.cite").first.click()
    sync_api.expect(w["context"]).to_contain_text("<script>window.__xss=1</script> on Monday.")
    sync_api.expect(w["source"].locator(".s-title")).to_have_text(doc["title"])
    assert w["source"].locator(".orig").is_hidden()  # no URL, no link
    assert shadow_eval(page, "root.querySelectorAll('img, script').length") == 0
    page.wait_for_timeout(300)
    assert page.evaluate("typeof window.__xss") == "undefined"
    page.screenshot(path=ARTIFACTS / "widget-xss-desktop.png")


BRIDGE = [
    {"id": "kessin-post-7", "publisher": "Kessin Post", "published": "2024-03-12",
     "url": "https://kessin-post.example/elster-bridge", "title": "Elster rail bridge opens to traffic",
     "text": "The new Elster river rail bridge, which cost 240 million euros, opened on Sunday after "
             "four years of building work. From April, trains between Aldmoor and Kessin will run "
             "every twenty minutes."},
    {"id": "vorland-herald-1", "publisher": "Vorland Herald", "published": "2024-03-11",
     "title": "Vorland opens new rail bridge over the Elster river",
     "text": "Vorland opened a new rail bridge over the Elster river on Sunday. The bridge cost 240 "
             "million euros and took four years to build. Trains between Aldmoor and Kessin will "
             "run every twenty minutes from April."},
]


def wait_answer_in_view(pg, index: int) -> None:
    """Wait until answer `index` is in the log's view, above the input: all of it, or its top
    when it is taller than the log (the widget scrolls smoothly, so this takes a moment)."""
    pg.wait_for_function("""i => {
        const root = document.querySelector('assistant-widget').shadowRoot;
        const l = root.querySelector('.log').getBoundingClientRect();
        const r = root.querySelectorAll('.msg.bot')[i].getBoundingClientRect();
        const input = root.querySelector('.composer').getBoundingClientRect();
        const whole = r.top >= l.top - 1 && r.bottom <= l.bottom + 1;
        const start = r.height > l.height && r.top >= l.top - 1 && r.top < l.top + 40;
        return (whole || start) && l.bottom <= input.top + 1;
    }""", arg=index)


def test_widget_answer_layout_sources_copy_feedback_and_stop(page, site, service):
    r = service.client.post("/v1/documents", json={"documents": BRIDGE}, headers=auth())
    assert r.status_code == 201, r.text
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.origin)
    page.goto(f"{site.origin}/article.html")
    w = widget(page)
    w["launcher"].click()
    # Fill the log first, so that the new answer has to be scrolled to.
    for question in ("Who is Iran relying on to build the Bushehr nuclear power plant?", PUTIN):
        ask(page, question)
    answer = ask(page, "How much did the Elster rail bridge cost?")
    n = w["answers"].count() - 1

    # "2 sources agree" stands apart from the quotes, which start on their own lines.
    sync_api.expect(answer.locator(".agree")).to_have_text("2 sources agree. As of 2024-03-12:")
    sync_api.expect(answer.locator(".answer .line").first).to_have_text(
        re.compile(r"^The new Elster river rail bridge, which cost 240 million euros"))
    # Sources carry their publisher and date.
    metas = answer.locator(".src-meta")
    sync_api.expect(metas.nth(0)).to_have_text(re.compile(r"Kessin Post · .*2024"))
    sync_api.expect(metas.nth(1)).to_have_text(re.compile(r"Vorland Herald · .*2024"))
    wait_answer_in_view(page, n)  # not hidden under the input box
    page.screenshot(path=ARTIFACTS / "widget-answer-desktop.png")

    # Copy: the answer and its sources, as plain text.
    answer.locator(".act.copy").click()
    sync_api.expect(answer.locator(".act-note")).to_have_text("Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("2 sources agree. As of 2024-03-12: The new Elster river rail bridge")
    assert ("\n\nSources:\n[1] Elster rail bridge opens to traffic — Kessin Post · " in copied
            and "— https://kessin-post.example/elster-bridge" in copied), copied

    # Thumbs down, then up: stored once per answer, the later rating replacing the earlier.
    answer.locator(".act.down").click()
    sync_api.expect(answer.locator(".act-note")).to_have_text("Thanks for the feedback")
    sync_api.expect(answer.locator(".act.down")).to_have_attribute("aria-pressed", "true")
    assert service.client.get("/v1/feedback").status_code == 401  # export needs the key
    items = service.client.get("/v1/feedback", headers=auth()).json()["items"]
    assert [i["rating"] for i in items] == ["down"]
    assert items[0]["question"] == "How much did the Elster rail bridge cost?"
    assert items[0]["answer"].startswith("2 sources agree.")
    cited = [c["doc_id"] for c in items[0]["citations"]]
    assert cited[:2] == ["kessin-post-7", "vorland-herald-1"] and set(cited) == set(cited[:2])
    assert items[0]["conversation_id"] and items[0]["created"].endswith("Z")
    answer.locator(".act.up").click()
    sync_api.expect(answer.locator(".act.up")).to_have_attribute("aria-pressed", "true")
    sync_api.expect(answer.locator(".act.down")).to_have_attribute("aria-pressed", "false")
    sync_api.expect(answer.locator(".act-note")).to_have_text("Thanks for the feedback")
    lines = service.client.get("/v1/feedback?format=jsonl", headers=auth()).text.splitlines()
    assert [json.loads(x)["rating"] for x in lines] == ["up"]

    # At phone width, a taller answer is scrolled to as well.
    page.set_viewport_size(PHONE)
    ask(page, "How often will trains run between Aldmoor and Kessin?")
    wait_answer_in_view(page, n + 1)
    page.screenshot(path=ARTIFACTS / "widget-answer-phone.png")

    # Stop: while an answer is on its way the send button stops it.
    held: list = []
    page.route("**/v1/chat", lambda route: held.append(route))  # the answer never comes
    send = page.locator("assistant-widget .send")
    w["input"].fill("When did the Elster bridge open?")
    w["input"].press("Enter")
    sync_api.expect(send).to_have_attribute("aria-label", "Stop answering")
    w["input"].press("Enter")  # Enter does not stop it
    sync_api.expect(send).to_have_attribute("aria-label", "Stop answering")
    page.screenshot(path=ARTIFACTS / "widget-streaming-phone.png")
    send.click()
    sync_api.expect(page.locator("assistant-widget .stopped")).to_have_text("Answer stopped.")
    sync_api.expect(send).to_have_attribute("aria-label", "Send question")
    sync_api.expect(w["input"]).to_have_value("When did the Elster bridge open?")
    sync_api.expect(w["answers"]).to_have_count(n + 2)  # nothing half-answered is left
    page.unroute("**/v1/chat")
    assert held


def test_api_docs_render_with_no_other_origin_reachable(browser, service):
    """/docs and /redoc work offline, and ask nothing of another origin (their CSP refuses
    what a bundled script would fetch: ReDoc's logo from its CDN)."""
    asked: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def only_own(route) -> None:  # as on a machine with no internet: nothing else answers
        if route.request.url.startswith(service.url):
            route.continue_()
        else:
            asked.append(route.request.url)
            route.abort()

    page.route("**/*", only_own)
    page.goto(f"{service.url}/docs")
    sync_api.expect(page.locator(".swagger-ui .info .title")).to_contain_text("assistant")
    sync_api.expect(page.locator(".opblock-summary-path", has_text="/v1/ask").first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "docs-desktop.png")
    page.goto(f"{service.url}/redoc")
    sync_api.expect(page.locator("h1").first).to_contain_text("assistant")
    sync_api.expect(page.get_by_text("/v1/ask", exact=True).first).to_be_attached()
    page.screenshot(path=ARTIFACTS / "redoc-desktop.png")
    context.close()
    assert asked == [] and errors == []


def test_widget_says_when_the_service_is_down_or_busy(page, site, service):
    js = service.client.get("/widget.js").text
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    site.pages["/dead.html"] = host_page(f"{dead}/widget.js")
    # Only the script itself comes from elsewhere; every API call really goes to the dead port.
    page.route(f"{dead}/widget.js", lambda route: route.fulfill(
        status=200, body=js, headers={"Content-Type": "text/javascript"}))
    page.goto(f"{site.origin}/dead.html")
    w = widget(page)
    w["launcher"].click()
    w["input"].fill(PUTIN)
    w["input"].press("Enter")
    error = w["errors"].last
    sync_api.expect(error).to_contain_text("The service is unavailable")
    sync_api.expect(error).to_contain_text("can't be reached right now")
    assert error.get_attribute("role") == "alert"
    sync_api.expect(w["msgs"]).to_contain_text(PUTIN)  # the question stays, with "Try again"
    sync_api.expect(error.locator("button.retry")).to_be_visible()
    page.set_viewport_size(PHONE)
    page.screenshot(path=ARTIFACTS / "widget-down-phone.png")

    # Rate limited: a 429 whose Retry-After header a cross-origin page cannot read; the
    # message carries it too.
    page.set_viewport_size(DESKTOP)
    page.goto(f"{site.origin}/article.html")
    page.route(f"{service.url}/v1/chat", lambda route: route.fulfill(
        status=429, headers={"Retry-After": "7", "Access-Control-Allow-Origin": site.origin},
        json={"code": "rate_limited",
              "message": "too many requests: the limit is 12 per 1 minute; retry in 7 s"}))
    w = widget(page)
    w["launcher"].click()
    w["input"].fill(PUTIN)
    w["input"].press("Enter")
    sync_api.expect(w["errors"].last).to_contain_text("Please try again in 7 seconds.")


def test_demo_page_shows_the_snippet_and_runs_the_widget(page, service):
    page.goto(f"{service.url}/")
    snippet = page.locator("#snippet")
    sync_api.expect(snippet).to_have_text(
        f'<script src="{service.url}/widget.js" data-title="Ask the newsroom" defer></script>')
    page.locator("#open-chat").click()
    w = widget(page)
    sync_api.expect(w["panel"]).to_be_visible()
    w["panel"].locator(".chip").first.click()  # a suggested question
    answer = w["answers"].last
    sync_api.expect(answer).to_have_attribute("aria-busy", "false")
    sync_api.expect(answer).to_contain_text("Ramaphosa")
    answer.locator("button.cite").first.click()
    sync_api.expect(w["context"].locator("mark")).to_contain_text("Ramaphosa convinced Putin")
    page.screenshot(path=ARTIFACTS / "demo-desktop.png")
    page.locator("assistant-widget .close").click()
    page.set_viewport_size(PHONE)
    page.screenshot(path=ARTIFACTS / "demo-phone.png", full_page=True)


# ----------------------------------------------------------------------------------- desk

def test_desk_checks_a_claim_and_exports_it(page, service):
    c = service.client
    # An earlier published fact-check, and a wire copy of a seed story (a near-duplicate).
    review = {"@context": "https://schema.org", "@type": "ClaimReview",
              "claimReviewed": "Turkey has joined the Western sanctions on Russia.",
              "reviewRating": {"@type": "Rating", "ratingValue": 1, "bestRating": 5,
                               "worstRating": 1, "alternateName": "False"},
              "url": "https://factcheck.example/turkey-sanctions", "datePublished": "2024-03-02",
              "author": {"@type": "Organization", "name": "Example Fact Check"}}
    up = c.post("/v1/documents/upload", headers=auth(), files=[
        ("files", ("turkey-check.jsonld", json.dumps(review).encode(), "application/ld+json"))])
    assert up.status_code == 201 and up.json()["fact_checks"] == 1, up.text
    seed = c.get(f"/v1/documents/{SEEDS[0]}", headers=auth()).json()["text"]
    wire = {"id": "wire-copy", "title": "Russia's friends and the sanctions",
            "publisher": "Wire Service", "published": "2024-02-20",
            "url": "https://wire.example/russia-friends",
            "text": seed.replace("The sanctions imposed", "The measures imposed", 1)}
    assert c.post("/v1/documents", json=wire, headers=auth()).status_code == 201

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=service.url)
    page.goto(f"{service.url}/desk")
    page.locator("#input").fill(TURKEY)
    sync_api.expect(page.locator("#detected")).to_have_text("Auto: checked as one claim")
    page.keyboard.press("Control+Enter")
    card = page.locator("article.verdict")
    sync_api.expect(card.locator(".badge")).to_have_text("Refuted")
    sync_api.expect(card).to_contain_text("confidence")
    # The earlier fact-check comes before the verdict.
    earlier = card.locator(".earlier")
    sync_api.expect(earlier).to_contain_text("Turkey has joined the Western sanctions on Russia.")
    sync_api.expect(earlier.locator(".rating")).to_have_text("False")
    assert page.evaluate("""() => { const e = document.querySelector('.earlier'),
        b = document.querySelector('.verdict .badge');
        return !!(e.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING); }""")
    sync_api.expect(card.locator(".count.ref b")).to_have_text("1")
    rows = card.locator("table.evidence tbody tr.refutes")
    sync_api.expect(rows.first.locator(".quote")).to_contain_text("refused to join sanctions")
    sync_api.expect(rows.first.locator(".stance")).to_have_text("Refutes")
    sync_api.expect(card.locator(".dup").first).to_contain_text("Near-duplicate")
    page.screenshot(path=ARTIFACTS / "desk-desktop.png", full_page=True)

    rows.first.locator("button").click()
    sync_api.expect(page.locator("#toast")).to_have_text("Citation copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "refused to join sanctions" in copied
    assert "characters" in copied or "https://" in copied

    with page.expect_download() as got:
        card.get_by_role("button", name="Markdown").click()
    assert got.value.suggested_filename.endswith(".md")
    md = Path(got.value.path()).read_text(encoding="utf-8")
    assert md.startswith(f"# Fact check: {TURKEY}")
    assert "**Verdict:** Refuted" in md and "refused to join sanctions" in md
    assert "Checked before" in md and "Example Fact Check" in md and "near-duplicate" in md
    assert "Also in (near-duplicate, counted once)" in md  # the merged copy itself is listed

    with page.expect_download() as got:
        card.get_by_role("button", name="JSON").click()
    data = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert data["verdict"] == "refuted" and data["claim"] == TURKEY and data["merged"]

    card.locator(".cr-url").fill("https://news.example/checks/turkey")
    with page.expect_download() as got:
        card.get_by_role("button", name="ClaimReview").click()
    cr = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert cr["@type"] == "ClaimReview" and cr["reviewRating"]["ratingValue"] == 1
    assert cr["url"] == "https://news.example/checks/turkey"
    assert "reviewBody" not in cr  # not edited

    # The editor changes the verdict and adds a note; every export carries it, marked edited.
    card.locator(".editor summary").click()
    card.get_by_label("Verdict", exact=True).select_option("conflicting")
    card.get_by_label("Editor's note").fill("A ministry statement says otherwise.")
    sync_api.expect(card.locator(".shown-verdict .badge")).to_have_text("Conflicting sources")
    sync_api.expect(card.locator(".shown-verdict .edited")).to_have_text("Edited")
    with page.expect_download() as got:
        card.get_by_role("button", name="Markdown").click()
    md = Path(got.value.path()).read_text(encoding="utf-8")
    assert "**Verdict:** Conflicting sources (edited by the editor; the checker said Refuted" in md
    assert "**Editor's note:** A ministry statement says otherwise." in md
    with page.expect_download() as got:
        card.get_by_role("button", name="JSON").click()
    data = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert data["verdict"] == "refuted"  # the checker's own verdict is kept beside the editor's
    assert data["editor"] == {"verdict": "conflicting", "note": "A ministry statement says "
                              "otherwise.", "edited": True, "checker_verdict": "refuted"}
    with page.expect_download() as got:
        card.get_by_role("button", name="ClaimReview").click()
    cr = json.loads(Path(got.value.path()).read_text(encoding="utf-8"))
    assert cr["reviewRating"]["ratingValue"] == 3
    assert cr["reviewRating"]["ratingExplanation"] == "A ministry statement says otherwise."
    assert cr["reviewBody"].startswith("Verdict edited by the newsroom")
    card.get_by_role("button", name="Reset").click()
    sync_api.expect(card.locator(".shown-verdict .badge")).to_have_text("Refuted")
    sync_api.expect(card.locator(".shown-verdict .edited")).to_have_count(0)

    sync_api.expect(page.locator("#toast")).not_to_have_class(re.compile("show"))
    page.set_viewport_size(PHONE)
    page.screenshot(path=ARTIFACTS / "desk-phone.png", full_page=True)


def test_desk_checks_a_paragraph(page, service):
    page.goto(f"{service.url}/desk")
    page.locator("#input").fill(f"{TURKEY} I think that is a shame. Iran is relying on Moscow to "
                                "build the Bushehr nuclear power plant.")
    sync_api.expect(page.locator("#detected")).to_contain_text("3 sentences")
    page.locator("#check").click()
    summary = page.locator(".summary")
    sync_api.expect(summary.locator("h2")).to_have_text("2 check-worthy claims in the paragraph")
    sync_api.expect(page.locator("article.verdict")).to_have_count(2)
    sync_api.expect(page.locator("#claim-1 .badge")).to_have_text("Refuted")
    sync_api.expect(page.locator("#claim-2 .claim")).to_contain_text("Bushehr")
    page.screenshot(path=ARTIFACTS / "desk-paragraph-desktop.png", full_page=True)
    with page.expect_download() as got:
        summary.get_by_role("button", name="Markdown").click()
    md = Path(got.value.path()).read_text(encoding="utf-8")
    assert md.startswith("# Fact check of a paragraph") and "## Claim 2:" in md

    # Errors are shown, not swallowed: an over-long claim forced into claim mode.
    page.locator("label[for=mode-claim]").click()
    page.locator("#input").fill("word " * 300)
    page.locator("#check").click()
    sync_api.expect(page.locator("#status.error")).to_contain_text("can't be checked")


def test_desk_asks_for_a_key_when_the_origin_gets_no_token(page, service):
    page.route(f"{service.url}/v1/widget/token", lambda route: route.fulfill(
        status=403, json={"code": "forbidden", "message": "origin is not allowed"}))
    page.goto(f"{service.url}/desk")
    page.locator("#input").fill("Iran is relying on Moscow to build the Bushehr nuclear power plant.")
    page.locator("#check").click()
    sync_api.expect(page.locator("#keybox")).to_be_visible()
    sync_api.expect(page.locator("#status.error")).to_contain_text("A key is needed")
    page.locator("#key").fill(KEY)
    page.locator("#key").press("Enter")
    sync_api.expect(page.locator("article.verdict .badge")).to_have_text("Supported")
    sync_api.expect(page.locator("#keybox")).to_be_hidden()
    assert page.evaluate("sessionStorage.getItem('assistant-desk:key')") == KEY
