"""Extraction by structure on pages of a theme nothing in extraction knows: every class name
here is made up, so only landmarks, link density, text position and shape can tell the
content from the site's frame (issue 13)."""

from __future__ import annotations

from scrape_api_docs.extract.content import extract
from scrape_api_docs.extract.pipeline import build_document

URL = "https://docs.example.org/guide/page.html"
PROSE = (
    "Widgets are small trees of typed nodes that render to HTML; each node keeps its "
    "children in order and validates them when the tree is built."
)


def md(body: str, title: str = "Page — Zed docs") -> str:
    page = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
    return build_document(page, url=URL, final_url=URL).markdown


def test_content_without_landmarks_is_the_block_that_holds_the_text() -> None:
    menu = "".join(f"<a href='/m{i}.html'>Module {i}</a> " for i in range(30))
    out = md(
        "<div class='zz-top'><span class='zz-brand'>Zed docs</span>"
        "<div class='zz-menu'><a href='/'>Home</a> <a href='/toc.html'>Contents</a></div></div>"
        "<div class='zz-wrap'>"
        f"<div class='zz-side'><h3>Modules</h3>{menu}</div>"
        f"<div class='zz-page'><h1>Widgets</h1><p>{PROSE}</p><h2 id='a'>Trees</h2>"
        f"<p>{PROSE}</p></div></div>"
        "<div class='zz-bottom'>Last update: 2026-01-02</div>"
    )
    assert out.startswith("# Widgets\n") and out.count("Widgets are small trees") == 2
    for chrome in ("Zed docs", "Home", "Modules", "Module 7", "Last update"):
        assert chrome not in out


def test_a_title_set_in_the_frame_above_the_content_opens_it() -> None:
    out = md(
        "<div class='hd'><h1>Caching</h1><div class='toc'><div>Table of Contents</div><ul>"
        "<li><a href='#a'>Choosing a capacity</a></li><li><a href='#b'>Eviction</a></li>"
        "<li><a href='#c'>Statistics and counters</a></li></ul></div></div>"
        f"<div class='ct'><div class='pre'><p>{PROSE}</p></div>"
        f"<div class='s1'><h2 id='a'>Choosing a capacity</h2><p>{PROSE}</p></div>"
        f"<div class='s1'><h2 id='b'>Eviction</h2><p>{PROSE}</p></div></div>"
        "<div class='ft'>Version 1.2</div>"
    )
    assert out.startswith("# Caching\n")
    assert "Table of Contents" not in out and "Version 1.2" not in out
    assert "## Choosing a capacity" in out and "## Eviction" in out


def test_the_landmark_inside_a_landmark_that_holds_the_text_is_the_content() -> None:
    nav = "".join(f"<li><a href='/p{i}.html'>Page number {i}</a></li>" for i in range(60))
    out = md(
        f"<main class='q-main'><div class='q-side'><ul>{nav}</ul></div>"
        f"<article class='q-art'><h1>Widgets</h1><p>{PROSE}</p></article>"
        "<div class='q-extra'><p>Was this page helpful?</p></div></main>"
    )
    assert out.startswith("# Widgets\n") and "Page number 7" not in out
    assert "helpful" not in out


def test_permalinks_are_wordless_links_to_their_own_block() -> None:
    out = md(
        f"<main><p>{PROSE}</p>"
        "<section id='s1' class='k'><a class='zz' href='#s1'>§</a><h2>Trees</h2>"
        "<p>See <a href='#s2'>the next section</a>.</p></section>"
        "<section id='s2'><h2 id='h2'>Nodes<a class='q' href='#h2'>\u200b</a></h2></section>"
        "<div id='code-1' class='w'><div class='cap'><span>app.js</span>"
        "<a class='p' href='#code-1'>🔗</a></div><pre>let a = 1;</pre></div></main>"
    )
    assert "§" not in out and "🔗" not in out and "](#" not in out.replace("(#s2)", "")
    assert "## Trees" in out and "## Nodes\n" in out and "app.js" in out
    assert "[the next section](https://docs.example.org/guide/page.html#s2)" in out


def test_line_number_gutters_are_columns_of_consecutive_integers() -> None:
    out = md(
        f"<main><p>{PROSE}</p>"
        "<table class='t1'><tr><td class='g'><pre>7\n8\n9</pre></td>"
        "<td class='c'><pre>a = 1\nb = 2\nc = 3</pre></td></tr></table>"
        "<pre><code><span class='n'>1</span><span>import os</span>\n"
        "<span class='n'>2</span><span>import re</span></code></pre>"
        "<pre><code><span class='mi'>1</span> + <span class='mi'>2</span></code></pre>"
        "<pre><code><span class='mi'>3</span>\n<span class='mi'>9</span></code></pre></main>"
    )
    assert "```\na = 1\nb = 2\nc = 3\n```" in out and "7\n8" not in out
    assert "```\nimport os\nimport re\n```" in out
    assert "```\n1 + 2\n```" in out  # numbers in code are code
    assert "```\n3\n9\n```" in out  # not consecutive: not a gutter


def test_controls_beside_a_heading_go_and_text_beside_it_stays() -> None:
    out = md(
        f"<main><div class='mh'><div class='bc'><a href='../index.html'>zed</a>::"
        "<a href='index.html'>widgets</a></div><h1>Struct Tree</h1>"
        "<span class='oob'><a href='../src/tree.rs.html'>Source</a></span></div>"
        f"<p>{PROSE}</p>"
        "<div class='st'><h2 id='nav'>Navigation</h2> Starting from the "
        "<a href='index.html'>Overview</a> page, you can browse.</div>"
        "<section id='m' class='x'><span class='r'><span>1.0.0</span> · "
        "<a href='../src/x.rs.html'>Source</a></span><h3>fn clone(&amp;self)</h3></section></main>"
    )
    assert "Source" not in out and "zed" not in out
    assert "# Struct Tree" in out and "1.0.0" in out
    assert "Starting from the [Overview](https://docs.example.org/guide/index.html) page" in out


def test_toggle_labels_of_open_disclosures_go_closed_ones_stay() -> None:
    out = md(
        f"<main><p>{PROSE}</p><details class='t' open><summary class='x'><span>Expand "
        "description</span></summary><p>Documented here.</p></details>"
        "<details><summary>Show the answer</summary><p>Forty-two.</p></details></main>"
    )
    assert "Expand description" not in out and "Documented here." in out
    assert "Show the answer" in out and "Forty-two." in out


def test_a_bar_of_links_closing_the_content_goes_a_list_of_pages_stays() -> None:
    out = md(
        f"<main><div class='bar'><a href='a.html'>« previous</a> | <a href='u.html'>up</a> | "
        f"<a href='n.html'>next »</a></div><h1>Widgets</h1><p>{PROSE}</p>"
        "<div class='tt'><ul><li><a href='x.html'>Install</a></li>"
        "<li><a href='y.html'>Usage</a></li></ul></div></main>"
    )
    assert "previous" not in out and "next" not in out
    assert "[Install](https://docs.example.org/guide/x.html)" in out


def test_a_card_of_a_heading_and_its_links_keeps_the_links() -> None:
    out = md(
        f"<main><h1>Guides</h1><p>{PROSE}</p>"
        "<div class='zz-card'><h3>Trees</h3><a href='trees.html'>Read more</a></div>"
        "<div class='zz-card'><h3>Nodes</h3><a href='nodes.html'>Read more</a> "
        "<a href='nodes-api.html'>API</a></div></main>"
    )
    assert "[Read more](https://docs.example.org/guide/trees.html)" in out
    assert "[Read more](https://docs.example.org/guide/nodes.html)" in out
    assert "[API](https://docs.example.org/guide/nodes-api.html)" in out


def test_the_label_of_an_open_disclosure_that_names_its_content_stays() -> None:
    out = md(
        f"<main><p>{PROSE}</p><details class='zz' open><summary>Example: a two-level "
        "cache</summary><p>Keep a small tree in memory.</p></details>"
        "<details open><summary><span>Show more</span></summary><p>More text.</p></details></main>"
    )
    assert "Example: a two-level cache" in out and "Keep a small tree" in out
    assert "Show more" not in out and "More text." in out


def test_the_pages_own_table_of_contents_goes() -> None:
    out = md(
        "<main><div class='zz-otp'><span>On this page</span><ul>"
        "<li><a href='#a'>Trees</a></li><li><a href='#b'>Nodes</a></li>"
        "<li><a href='#c'>Rendering</a></li></ul></div>"
        f"<h1>Widgets</h1><p>{PROSE} See <a href='#b'>Nodes</a>, <a href='#c'>Rendering</a> "
        "and <a href='#a'>Trees</a>.</p>"
        f"<h2 id='a'>Trees</h2><p>{PROSE}</p><h2 id='b'>Nodes</h2><p>{PROSE}</p>"
        f"<h2 id='c'>Rendering</h2><p>{PROSE}</p></main>"
    )
    assert "On this page" not in out and "- [Trees]" not in out
    assert "See [Nodes](https://docs.example.org/guide/page.html#b)" in out
    assert "## Trees" in out and "## Rendering" in out


def test_tabs_by_aria_roles_and_by_a_row_of_labels() -> None:
    out = md(
        f"<main><p>{PROSE}</p><div class='zz-tabs'><div role='tablist'>"
        "<span role='tab' aria-controls='p1'>pip</span><span role='tab' aria-controls='p2'>"
        "conda</span></div><div id='p1' role='tabpanel'><pre>pip install zed</pre></div>"
        "<div id='p2' role='tabpanel' hidden><pre>conda install zed</pre></div></div>"
        "<div class='qq'><input type='radio' id='r1' name='t'><input type='radio' id='r2' "
        "name='t'><div class='qq-row'><label for='r1'>Linux</label><label for='r2'>macOS"
        "</label></div><div class='qq-body'><div><p>Use apt.</p></div><div><p>Use brew.</p>"
        "</div></div></div></main>"
    )
    assert "**pip**\n\n```\npip install zed\n```\n\n**conda**\n\n```\nconda install zed" in out
    assert "**Linux**\n\nUse apt.\n\n**macOS**\n\nUse brew." in out


def test_a_consent_dialog_goes_whatever_its_class() -> None:
    out = md(
        f"<main><h1>Widgets</h1><p>{PROSE}</p>"
        "<div class='zz-x' role='dialog' aria-label='Privacy'><p>We use cookies to measure "
        "visits.</p><a href='/privacy.html'>Accept</a></div>"
        "<div class='zz-y' style='position: fixed; bottom: 0'>Your consent matters. "
        f"<a href='/ok.html'>OK</a></div><p>{PROSE}</p>"
        "<table style='table-layout: fixed'><tr><th>Option</th><th>Effect</th></tr>"
        "<tr><td>privacy</td><td>Send no usage data.</td></tr></table></main>"
    )
    assert "We use cookies" not in out and "consent" not in out
    assert "Send no usage data." in out  # a table laid out "fixed" is no overlay
    assert out.count("Widgets are small trees") == 2


def test_code_drawn_as_one_element_per_line_keeps_its_lines() -> None:
    out = md(
        f"<main><p>{PROSE}</p><pre class='zz-code'><code><span class='zz-l'>"
        "<span class='k'>import</span> os</span><span class='zz-l'>print(os.sep)</span>"
        "</code></pre></main>"
    )
    assert "```\nimport os\nprint(os.sep)\n```" in out


def test_admonitions_by_the_meaning_of_their_names() -> None:
    out = md(
        f"<main><p>{PROSE}</p><div class='zz-callout--danger'><div class='zz-callout__title'>"
        "Careful</div><p>Trees are not thread-safe.</p></div>"
        "<div class='zz-box' role='note'><p>Nodes are cheap.</p></div></main>"
    )
    assert "> **Careful**\n>\n> Trees are not thread-safe." in out
    assert "> **Note**\n>\n> Nodes are cheap." in out


def test_site_navigation_is_the_landmark_listing_most_pages_not_a_repeated_bar() -> None:
    bar = (
        "<div class='zz-rel' role='navigation'><ul><li><a href='/genindex.html'>index</a></li>"
        "<li><a href='next.html'>next</a></li><li><a href='prev.html'>previous</a></li></ul></div>"
    )
    tree = "".join(f"<li><a href='p{i}.html'>Page {i}</a></li>" for i in range(2))
    page = (
        f"<html><body>{bar}<nav class='zz-side'><a href='/'>Zed</a><ul>"
        f"<li><a href='page.html'>Page</a><ul>{tree}</ul></li></ul></nav>"
        f"<main><h1>Widgets</h1><p>{PROSE}</p></main>{bar}</body></html>"
    )
    extracted = extract(page, URL)
    assert extracted.toc_links == [
        "https://docs.example.org/guide/p0.html",
        "https://docs.example.org/guide/p1.html",
    ]
