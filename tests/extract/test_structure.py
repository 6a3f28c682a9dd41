"""Structure a reader can scan, on pages real generators made (tests/fixtures/corpus): API
signatures become headings (Sphinx's ``<dt>``, pdoc's entry ``<div id>``; rustdoc's and
Javadoc's items keep theirs), nested as the entries are; layout tables (Sphinx's general
index in columns, a header-less table of lists) become lists, and data tables stay tables."""

from __future__ import annotations

import re
from pathlib import Path

from scrape_api_docs.extract.pipeline import build_document

CORPUS = Path(__file__).parents[1] / "fixtures" / "corpus"


def document(rel: str, url: str = "http://docs.test/page.html"):  # type: ignore[no-untyped-def]
    return build_document((CORPUS / rel).read_text(), url=url, final_url=url)


def heading_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if re.match(r"#{1,6} ", line)]


def test_sphinx_signatures_are_headings_nested_as_their_entries() -> None:
    doc = document("sphinx-alabaster/api/core.html")
    lines = heading_lines(doc.markdown)
    assert lines[0] == "# widgetry.core"
    assert "## `exception widgetry.core.WidgetError`" in lines
    assert any(line.startswith("## `class widgetry.core.Widget(kind: str") for line in lines)
    assert "### `add(child: Widget) → Widget`" in lines  # a method, under its class
    assert any(line.startswith("## `widgetry.core.render(widget: Widget") for line in lines)
    # What a chunker and links use: the entries are headings with their ids.
    anchors = {h.anchor: h.level for h in doc.headings}
    assert anchors["widgetry.core.Widget"] == 2
    assert anchors["widgetry.core.Widget.add"] == 3
    assert doc.title == "widgetry.core"


def test_pdoc_entries_are_headings_nested_as_their_entries() -> None:
    doc = document("pdoc/widgetry/core.html")
    lines = heading_lines(doc.markdown)
    assert "## `@dataclass class Widget:`" in lines
    assert "### `def add(self, child: Widget) -> Widget:`" in lines
    assert "## `def render(widget: Widget, *, indent: int = 0) -> str:`" in lines
    assert not any("View Source" in line for line in lines)  # the toggle's label
    anchors = {h.anchor: h.level for h in doc.headings}
    assert anchors["Widget.add"] == 3 and anchors["render"] == 2


def test_rustdoc_and_javadoc_items_keep_their_own_headings() -> None:
    rust = heading_lines(document("rustdoc/widgetry/struct.Widget.html").markdown)
    assert any(line.startswith("#### pub fn [add](") for line in rust), rust
    java = document("javadoc/org/widgetry/Widget.html")
    members = {h.text: h.anchor for h in java.headings if h.level == 3}
    assert members["add"] == "add(org.widgetry.Widget)", members


def test_glossary_terms_stay_bold_paragraphs() -> None:
    url = "http://docs.test/glossary.html"
    doc = build_document(
        '<main><h1>Glossary</h1><dl class="glossary"><dt id="term-widget-tree">widget tree</dt>'
        "<dd><p>The widgets of one page, nested.</p></dd></dl></main>",
        url=url,
        final_url=url,
    )
    assert "**widget tree**" in doc.markdown
    assert [t.anchor for t in doc.terms] == ["term-widget-tree"]


def test_layout_tables_become_lists_and_data_tables_stay() -> None:
    doc = document("sphinx-alabaster/genindex.html")
    assert "|" not in doc.markdown.split("## A", 1)[1]  # the columns of the index
    assert "- [add() (widgetry.core.Widget method)](" in doc.markdown
    assert not any(line.startswith("|") for line in doc.markdown.splitlines())

    url = "http://docs.test/functions.html"
    page = (
        "<main><h1>Functions</h1><table><tr>"
        + "".join(
            f"<td><ul>{''.join(f'<li><a href=f{c}{n}.html>f{c}{n}()</a></li>' for n in range(30))}"
            "</ul></td>"
            for c in "abcd"
        )
        + "</tr></table><table><thead><tr><th>Option</th><th>Values</th></tr></thead>"
        "<tbody><tr><td>mode</td><td><ul><li>fast</li><li>safe</li></ul></td></tr></tbody></table>"
        "<table><tr><td>retries</td><td>3</td></tr><tr><td>timeout</td><td>30 s</td></tr></table>"
        "</main>"
    )
    md = build_document(page, url=url, final_url=url).markdown
    assert "- [fa0()](" in md and "- [fd29()](" in md
    assert max(len(line) for line in md.splitlines()) < 120
    assert re.search(r"^\| Option +\| Values +\|$", md, re.M)  # a header: data
    assert re.search(r"^\| retries +\| 3 +\|$", md, re.M)  # cells of text: data
