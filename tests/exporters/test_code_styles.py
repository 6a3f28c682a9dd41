"""Code as the exports draw it: a block whose language label is wrong (a shell session
labelled Python) is still plain code, never drawn with Pygments' red error boxes."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from scrape_api_docs.exporters.pdf import page_html
from scrape_api_docs.jobs.pipeline import export_all
from tests.conftest import CrawlFn
from tests.support.server import TestServer

SHELL_AS_PYTHON = """<!DOCTYPE html><html><head><title>Run it</title></head><body><main>
<h1>Run it</h1><p>Start the server:</p>
<pre><code class="language-python">$ flask run
 * Running on http://127.0.0.1:5000/ (Press CTRL+C to quit)</code></pre>
</main></body></html>"""
_RULE = re.compile(r"([^{}]+)\{([^}]*)\}")


def rules_for(css: str, token_class: str) -> list[str]:
    """The declarations of every rule whose selector names ``.token_class``."""
    return [
        body for selector, body in _RULE.findall(css) if re.search(rf"\.{token_class}\b", selector)
    ]


async def test_a_mislabelled_block_has_no_error_boxes(crawl: CrawlFn, tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(SHELL_AS_PYTHON)
    server = TestServer(root).start()
    try:
        start = server.url("/index.html")
        _, store = await crawl(start)
    finally:
        server.stop()
    files = {a.format: a.path for a in export_all(store, start, ["html", "epub"], tmp_path / "o")}
    with zipfile.ZipFile(files["html"]) as zf:
        page, site_css = zf.read("index.html").decode(), zf.read("assets/style.css").decode()
    with zipfile.ZipFile(files["epub"]) as zf:
        epub_css = zf.read("EPUB/style.css").decode()
        chapter = next(
            zf.read(n).decode()
            for n in zf.namelist()
            if n.endswith(".xhtml") and "$" in zf.read(n).decode()
        )
    # Pygments does mark the "$" as an error token...
    assert 'class="err">$</span>' in page and 'class="err">$</span>' in chapter
    pdf_css = page_html("t", "en", "")
    for name, css in (("site", site_css), ("epub", epub_css), ("pdf", pdf_css)):
        # ...and no stylesheet draws it: no border, no colour, no background.
        assert rules_for(css, "highlight") and rules_for(css, "err") == [], (
            name,
            rules_for(css, "err"),
        )
