"""The book preview's renderer: the exports' sanitiser, ids kept apart from the host page's."""

from __future__ import annotations

from scrape_api_docs.api.preview import beginning
from scrape_api_docs.exporters.html_render import markdown_preview

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
