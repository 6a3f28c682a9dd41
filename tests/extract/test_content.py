"""Extraction rules on small snippets: what is kept, what is dropped, how code comes out."""

from __future__ import annotations

import re
import time

import pyromark
import pytest

from scrape_api_docs.exporters.text import plain_text
from scrape_api_docs.extract.content import extract
from scrape_api_docs.extract.markdown import to_markdown
from scrape_api_docs.extract.pipeline import build_document

URL = "https://docs.example.org/guide/page.html"


def md(body: str, head: str = "<title>T</title>") -> str:
    page = f"<html><head>{head}</head><body>{body}</body></html>"
    return build_document(page, url=URL, final_url=URL).markdown


def test_main_content_beats_navigation() -> None:
    out = md(
        "<header><nav><a href='/'>Home</a> <a href='/blog'>Blog</a></nav></header>"
        "<div class='sidebar'><nav><ul><li><a href='a.html'>Sidebar link</a></li></ul></nav></div>"
        "<main><h1>Guide</h1><p>Real content here.</p></main>"
        "<footer>© Example Corp</footer>"
    )
    assert "Real content here." in out
    assert "Home" not in out and "Sidebar link" not in out and "Example Corp" not in out


def test_code_languages_from_the_classes_generators_use() -> None:
    out = md(
        "<main><div class='highlight-python3 notranslate'><div class='highlight'><pre>"
        "<span class='gp'>&gt;&gt;&gt; </span><span class='nb'>print</span>(1)\n1\n</pre></div></div>"
        "<pre><code class='language-js'>let a = 1;</code></pre>"
        "<pre data-lang='sql'>SELECT 1;</pre>"
        "<div class='language-yaml highlight'><pre><code>a: 1</code></pre></div>"
        "<pre class='rust'><code>fn main() {}</code></pre>"
        "<div class='highlight-default'><div class='highlight'><pre>x = 1</pre></div></div>"
        "<pre><code class='nohighlight'>plain</code></pre></main>"
    )
    assert "```python3\n>>> print(1)\n1\n```" in out
    for fence in (
        "```js\nlet a = 1;",
        "```sql\nSELECT 1;",
        "```yaml\na: 1",
        "```rust\nfn main() {}",
    ):
        assert fence in out
    assert "```python\nx = 1" in out  # Sphinx "default" is Python
    assert "```\nplain\n```" in out


def test_line_numbers_and_links_inside_code_are_removed() -> None:
    out = md(
        "<main><table class='highlighttable'><tr><td class='linenos'><pre>1\n2</pre></td>"
        "<td class='code'><div class='highlight-bash'><pre>echo one\necho two</pre></div></td></tr></table>"
        "<pre><code class='language-python'><span class='linenos'>1</span>import "
        "<a href='os.html'>os</a></code></pre></main>"
    )
    assert "```bash\necho one\necho two\n```" in out
    assert "```python\nimport os\n```" in out
    assert "](" not in out.split("```python")[1]


def test_line_per_element_code_keeps_its_lines() -> None:
    out = md(
        "<main><pre class='prism-code language-js'><code>"
        "<span class='token-line'><span>const a = 1;</span><br></span>"
        "<span class='token-line'><span>const b = 2;</span><br></span></code></pre></main>"
    )
    assert "```js\nconst a = 1;\nconst b = 2;\n```" in out


def test_admonitions_become_titled_blockquotes() -> None:
    out = md(
        "<main><p>Intro.</p><div class='admonition warning'><p class='admonition-title'>Warning</p>"
        "<p>Do not do this.</p></div>"
        "<details class='note'><summary>Hidden detail</summary><p>Inside details.</p></details></main>"
    )
    assert "> **Warning**\n>\n> Do not do this." in out
    assert "> **Hidden detail**" in out and "> Inside details." in out


def test_permalinks_and_prev_next_bars_go() -> None:
    out = md(
        "<main><h2 id='s'>Section<a class='headerlink' href='#s'>¶</a></h2>"
        "<h3 id='t'><a class='header' href='#t'>Wrapped title</a></h3><p>Body.</p>"
        "<div class='navfooter'><a href='prev.html'>Prev</a> <a href='up.html'>Up</a>"
        " <a href='next.html'>Next</a></div></main>"
    )
    assert "## Section\n" in out and "¶" not in out
    assert "### Wrapped title" in out and "(#t)" not in out
    assert "Prev" not in out and "Next" not in out


def test_cookie_banner_goes_but_a_section_about_cookies_stays() -> None:
    out = md(
        "<div class='cookie-banner'>We use cookies. <a href='#'>Accept</a></div>"
        "<main><section id='module-http.cookies'><h1>http.cookies</h1>"
        "<p>Cookie handling for HTTP.</p></section></main>"
    )
    assert "We use cookies" not in out
    assert "Cookie handling for HTTP." in out


def test_images_keep_alt_text_and_absolute_urls() -> None:
    out = md(
        "<main><p>Look:</p><img src='../img/diagram.png' alt='Flow diagram'>"
        "<img data-src='lazy.png' src='data:image/gif;base64,R0lGOD' alt='Lazy'></main>"
    )
    assert "![Flow diagram](https://docs.example.org/img/diagram.png)" in out
    assert "![Lazy](https://docs.example.org/guide/lazy.png)" in out


def test_spaces_around_urls_are_dropped_as_browsers_do() -> None:
    out = md(
        "<main><p><a href=' https://example.org/spec.html#s '>the spec</a> and "
        '<a href="\n ../other.html">another page</a></p><img src=" pic.png " alt="Pic"></main>'
    )
    assert "[the spec](https://example.org/spec.html#s)" in out
    assert "[another page](https://docs.example.org/other.html)" in out
    assert "![Pic](https://docs.example.org/guide/pic.png)" in out


def test_terms_with_ids_are_kept_with_their_text() -> None:
    page = (
        "<main><dl><dt id='term-log'>log</dt><dd>A file.</dd><dt>no id</dt><dd>x</dd></dl>"
        "<dl class='py function'><dt class='sig sig-object py' id='mod.f'>"
        "<span class='sig-name descname'>f</span>(<em>x</em>)</dt><dd>Does f.</dd></dl></main>"
    )
    doc = build_document(page, url=URL, final_url=URL)
    assert [(t.text, t.anchor) for t in doc.terms] == [("log", "term-log")]
    # An API signature is a heading (with its id), not a term.
    assert [(h.text, h.anchor) for h in doc.headings] == [("f(x)", "mod.f")]


def test_definition_lists_tables_and_asterisks() -> None:
    out = md(
        "<main><dl><dt>Term one</dt><dd><p>Meaning one.</p></dd></dl>"
        "<dl class='py function'><dt class='sig sig-object py' id='f'>"
        "<span class='sig-name descname'><span class='pre'>f</span></span>"
        "<span class='sig-paren'>(</span><em class='sig-param'>x</em><span class='sig-paren'>)</span>"
        "<a class='headerlink' href='#f'>¶</a></dt><dd><p>Does f.</p></dd></dl>"
        "<table><tr><th>Key</th><th>Value</th></tr><tr><td>a</td><td>1</td></tr></table>"
        "<p>2 * 3 * 4</p></main>"
    )
    assert "**Term one**\n\nMeaning one." in out
    assert "`f(x)`\n\nDoes f." in out
    assert "| Key | Value |" in out and "| a   | 1     |" in out
    assert r"2 \* 3 \* 4" in out


@pytest.mark.checklist(23)
def test_scripts_styles_and_forms_never_reach_the_text() -> None:
    out = md(
        "<main><h1>T</h1><script>var secret = 'script text';</script>"
        "<style>.x{color:red}</style><form role='search'><input placeholder='Search docs'></form>"
        "<p>Visible.</p></main>"
    )
    assert "script text" not in out and "color:red" not in out and "Search docs" not in out
    assert "Visible." in out


def test_title_links_and_navigation_order() -> None:
    page = (
        "<html><head><title>Page — Site</title><base href='https://docs.example.org/v2/'></head><body>"
        "<div class='toctree-wrapper'><ul><li><a href='b.html'>B</a></li><li><a href='a.html#x'>A</a></li>"
        "<li><a href='b.html#y'>B again</a></li></ul></div>"
        "<main><h1>Real title</h1><p><a href='c.html'>C</a></p></main></body></html>"
    )
    extracted = extract(page, URL, want_content_links=True)
    assert extracted.title == "Real title"
    assert extracted.toc_links == [
        "https://docs.example.org/v2/b.html",
        "https://docs.example.org/v2/a.html",
    ]
    assert "https://docs.example.org/v2/c.html" in extracted.content_links
    assert "https://docs.example.org/v2/c.html" in extracted.links


def test_title_falls_back_to_the_title_element() -> None:
    assert extract("<title> Only a title </title><p>x</p>", URL).title == "Only a title"


@pytest.mark.checklist(22)
def test_deep_nesting_is_capped_not_quadratic() -> None:
    nested = "<div>" * 100_000 + "deep text" + "</div>" * 100_000
    # CPU time of this process, not wall time (which a loaded machine stretches): capped,
    # the page takes ~0.2 s; uncapped, parsing it alone takes ~26 s here.
    began = time.process_time()
    out = md(f"<main><p>top</p>{nested}</main>")
    assert time.process_time() - began < 5
    assert "top" in out and "deep text" in out


def test_text_that_looks_like_a_tag_stays_text() -> None:
    """``impl<T>`` or "the <b> tag" in prose must not become raw HTML in the Markdown
    (a renderer would make it a tag and the text would vanish); code spans, code blocks
    and autolinks keep their "<"."""
    markdown = to_markdown(
        "<p>impl&lt;T&gt; uses the &lt;b&gt; tag, a &lt; b, <code>Vec&lt;u8&gt;</code> and "
        '<a href="https://x.org/a">https://x.org/a</a></p><pre>fn f&lt;T&gt;()</pre>',
        "https://x.org/",
    )
    assert markdown.startswith(
        "impl\\<T> uses the \\<b> tag, a < b, `Vec<u8>` and <https://x.org/a>"
    )
    assert "fn f<T>()" in markdown
    assert plain_text(markdown).startswith("impl<T> uses the <b> tag")


def test_underscores_and_asterisks_in_text_stay_text() -> None:
    """``<cite>__name__</cite>`` is text, not bold "name"; code and URLs keep theirs."""
    markdown = to_markdown(
        "<p><cite>__name__</cite> and *args* in snake_case, <code>__init__</code>, "
        '<a href="https://x.org/a_b_c">https://x.org/a_b_c</a>, '
        '<a href="https://x.org/__d__">__d__</a></p><pre>a_b *c* __e__</pre>',
        "https://x.org/",
    )
    assert markdown.startswith(r"\_\_name\_\_ and \*args\* in snake\_case, `__init__`, ")
    assert "<https://x.org/a_b_c>" in markdown
    assert r"[\_\_d\_\_](https://x.org/__d__)" in markdown
    assert "```\na_b *c* __e__\n```" in markdown


def test_only_web_links_and_raster_data_images_reach_the_markdown() -> None:
    """Entity-encoded ``javascript&colon;`` is still ``javascript:`` once parsed: such a
    link keeps its text only; a ``data:`` image that is not a raster picture goes (its alt
    text stays); text that spells out a Markdown link to a script stays text."""
    markdown = md(
        '<main><p><a href="javascript&colon;alert(1)">one</a> '
        '<a href="JaVa&#x53;cript:alert(2)">two</a> <a href=" java\tscript:alert(3)">three</a> '
        '<a href="vbscript:x">four</a> <a href="data:text/html,x">five</a> '
        '<a href="mailto:a@example.org">mail</a> <a href="#s">here</a> '
        '<a href="ftp://example.org/f">ftp</a></p>'
        '<p><img src="data:text/html;base64,PHNjcmlwdD4=" alt="evil"> '
        '<img src="data:image/svg+xml,&lt;svg onload=alert(1)&gt;" alt="svg"> '
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot"></p>'
        "<p>[six](javascript:alert(6)) ![seven](data:text/html,x) "
        "[eight](&amp;#106;avascript:alert(8)) [nine](javascript\\:alert(9))</p>"
        "<p>[ten]: javascript:alert(10)</p>"
        "<p>Also &lt;javascript:alert(11)&gt; and &lt;ftp://example.org/f&gt;</p></main>"
    )
    rendered = pyromark.html(markdown)  # what a Markdown reader makes of it
    urls = re.findall(r'(?:href|src)="([^"]*)"', rendered)
    assert urls == [
        "mailto:a@example.org",
        "https://docs.example.org/guide/page.html#s",
        "data:image/png;base64,iVBORw0KGgo=",
        "javascript%5C:alert(9)",  # a relative link: the escaped backslash is text
    ], rendered
    assert "&lt;javascript:alert(11)&gt;" in rendered and "&lt;ftp:" in rendered
    assert "[ten]: javascript:alert(10)" in rendered
    assert "one two three four five [mail](mailto:a@example.org) [here](" in markdown
    assert "![dot](data:image/png;base64,iVBORw0KGgo=)" in markdown
    assert "evil" in markdown and "svg" in markdown
