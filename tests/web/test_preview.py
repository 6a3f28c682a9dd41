"""The book preview's renderer: the exports' sanitiser, ids kept apart from the host page's."""

from __future__ import annotations

from typing import Any

from scrape_api_docs.api.preview import beginning
from scrape_api_docs.exporters.html_render import markdown_preview
from tests.api.conftest import api as api
from tests.api.conftest import assert_envelope, wait_for_status
from tests.support.server import Reply, TestServer
from tests.support.sites import no_robots

HOSTILE = """# <script>alert(1)</script> Title

<a id="main"></a>

See [the guide](#main), [evil](javascript:alert(1)), [entity](javascript&colon;alert(2)).

<img src="x" onerror="alert(3)"> ![logo](http://169.254.169.254/logo.png)

<iframe src="http://example.com/"></iframe><style>body{display:none}</style>

```python
print("<b>hi</b>")
```
"""


def test_preview_is_sanitised_and_loads_nothing() -> None:
    html = markdown_preview(HOSTILE, "pv-")
    lowered = html.lower()
    for banned in ("<script", "onerror", "javascript", "<iframe", "<style", "<img", "169.254"):
        assert banned not in lowered, (banned, html)
    assert 'id="pv-main"' in html and 'href="#pv-main"' in html  # no clash with the page's ids
    assert "[logo]" in html  # an image becomes its alt text
    assert '<pre class="highlight"><code class="language-python">' in html
    assert "&lt;b&gt;hi&lt;/b&gt;" in html


def test_a_cut_book_ends_on_a_whole_line() -> None:
    data = "Ünïcode line one\nline two is cut".encode()
    assert beginning(data, whole=False) == "Ünïcode line one\n"
    assert beginning(data[:4], whole=False) == "Ün\ufffd"  # half a character: no error
    assert beginning(data, whole=True).endswith("is cut")


HOSTILE_PAGE = (
    "<!doctype html><html><head><title>Guide</title></head><body><main>"
    "<h1>&lt;script&gt;alert(1)&lt;/script&gt; Guide</h1>"
    "<p>Read <a href='javascript&colon;alert(2)'>this</a> and "
    "<a href='https://example.com/'>that</a>.</p>"
    "<p><img src='http://169.254.169.254/x.png' alt='diagram' onerror='alert(3)'></p>"
    "<pre><code class='language-python'>print('preview me')</code></pre>"
    "</main></body></html>"
)


async def test_preview_endpoint(api: Any, server: TestServer) -> None:
    no_robots(server)
    server.route("/guide.html", Reply(body=HOSTILE_PAGE))
    async with api(requests_per_minute=100_000) as (_, client):
        url = server.url("/guide.html")
        book = await client.post("/api/v1/scrape", json={"url": url, "options": {"rate_limit": 10}})
        only_json = await client.post(
            "/api/v1/scrape",
            json={"url": url, "export_formats": ["json"], "options": {"rate_limit": 10}},
        )
        book_id, json_id = book.json()["job_id"], only_json.json()["job_id"]
        for job_id in (book_id, json_id):
            assert (await wait_for_status(client, job_id))["status"] == "completed"

        answer = await client.get(f"/api/v1/exports/{book_id}/preview")
        assert answer.status_code == 200, answer.text
        preview = answer.json()
        assert preview["filename"] == "output.md" and preview["truncated"] is False
        html = preview["html"]
        assert "print" in html and "preview me" in html and "highlight" in html
        assert 'href="https://example.com/"' in html
        for banned in ("<script", "javascript", "onerror", "<img", "169.254"):
            assert banned not in html.lower(), (banned, html)

        missing = await client.get(f"/api/v1/exports/{json_id}/preview")
        assert_envelope(missing, 404, "NOT_FOUND")
        assert "no Markdown book" in missing.json()["error"]["message"]
        unknown = await client.get("/api/v1/exports/job_0000000000000000/preview")
        assert_envelope(unknown, 404, "JOB_NOT_FOUND")
