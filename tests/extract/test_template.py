"""The site template learned from the site's pages, and titles checked against it."""

from __future__ import annotations

from pathlib import Path

from scrape_api_docs.exporters.site_pages import SitePages
from scrape_api_docs.extract.content import extract
from scrape_api_docs.extract.document import Document, Heading
from scrape_api_docs.extract.template import SiteTemplate, distinct_titles, learn
from scrape_api_docs.storage.pages import SqlitePageStore

SITE = "https://docs.example/"
NAMES = ["install", "usage", "config", "api", "faq"]


def page(name: str, prev: str, nxt: str) -> Document:
    """A page of a site whose theme frames every page with the same banner, module list,
    bars and footer (links differ per page, the date too), around the page's own text."""
    markdown = (
        "# [Acme v1.2 documentation](https://docs.example/)\n\n"
        "### Modules\n\n- [acme.core](https://docs.example/core)\n- [acme.io](https://docs.example/io)\n\n"
        f"[« previous](https://docs.example/{prev}) | [up](https://docs.example/) | "
        f"[next »](https://docs.example/{nxt})\n\n"
        f"# {name.capitalize()} guide\n\n"
        f"How to {name} Acme, step by step, with every option explained.\n\n"
        f"## Parameters\n\nEach {name} parameter has a default.\n\n"
        f"[« previous](https://docs.example/{prev}) | [up](https://docs.example/) | "
        f"[next »](https://docs.example/{nxt})\n\n"
        f"Last update: 2026-0{len(name)}-1{len(name)}\n"
    )
    url = f"{SITE}{name}"
    return Document(
        url=url,
        final_url=url,
        title="Acme v1.2 documentation",
        markdown=markdown,
        page_title=f"{name.capitalize()} guide — Acme 1.2 documentation",
        headings=[
            Heading(1, "Acme v1.2 documentation"),
            Heading(3, "Modules"),
            Heading(1, f"{name.capitalize()} guide", name),
            Heading(2, "Parameters", f"{name}-parameters"),
        ],
        places={"opt": markdown.index(f"Each {name} parameter")},
    )


def site() -> list[Document]:
    return [page(n, NAMES[i - 1], NAMES[(i + 1) % len(NAMES)]) for i, n in enumerate(NAMES)]


def test_what_frames_most_pages_is_cut_and_the_pages_own_text_stays() -> None:
    docs = site()
    template = learn(docs)
    clean = template.clean(docs[1])
    assert clean.markdown == (
        "# Usage guide\n\nHow to usage Acme, step by step, with every option explained.\n\n"
        "## Parameters\n\nEach usage parameter has a default.\n"
    )
    # The repeated "Parameters" heading is the page's own: it is inside, not at an edge.
    assert [h.text for h in clean.headings] == ["Usage guide", "Parameters"]
    assert clean.markdown[clean.places["opt"] :].startswith("Each usage parameter")


def test_a_page_seen_alone_or_a_small_site_is_left_as_it_is() -> None:
    docs = site()[:2]
    assert learn(docs) == SiteTemplate()
    assert learn(docs).clean(docs[0]) is docs[0]


def test_titles_skip_the_banner_and_the_sites_title_suffix() -> None:
    docs = site()
    template = learn(docs)
    assert template.banners == frozenset({"acmev12documentation"})
    assert template.title_suffix == "Acme 1.2 documentation"
    doc = docs[0]
    assert template.title(doc.page_title, doc.headings) == "Install guide"
    # No heading: the page's <title> without the site's part.
    assert template.title("Changelog — Acme 1.2 documentation", []) == "Changelog"
    # A badge glued to the name (another element) is not part of the title.
    glued = [Heading(1, "Variable LEAF_KINDSConst")]
    assert template.title("LEAF_KINDS — Acme 1.2 documentation", glued) == "Variable LEAF_KINDS"
    spaced = [Heading(1, "Installation Guide")]
    assert template.title("Installation — Acme 1.2 documentation", spaced) == "Installation Guide"


def test_a_sites_common_title_prefix_is_dropped() -> None:
    docs = site()
    for doc in docs:
        doc.page_title = "Acme: " + doc.page_title.split(" — ")[0]
        doc.headings = []
    template = learn(docs)
    assert template.title_prefix == "Acme"
    assert template.title(docs[2].page_title, []) == "Config guide"


def test_shared_titles_become_distinct_the_first_page_keeps_its_own() -> None:
    titles = {"https://h/": "Acme", "https://h/modules.html": "Acme", "https://h/x": "Acme"}
    cores = {"https://h/modules.html": "Modules", "https://h/x": ""}
    assert distinct_titles(titles, cores) == {
        "https://h/": "Acme",
        "https://h/modules.html": "Modules",
        "https://h/x": "Acme (x)",
    }


def test_the_books_view_of_a_page_store_is_clean(tmp_path: Path) -> None:
    store = SqlitePageStore(tmp_path / "pages.sqlite")
    for doc in site():
        store.add(doc)
    pages = SitePages(store)
    assert [ref.title for ref in pages.refs()] == [f"{n.capitalize()} guide" for n in NAMES]
    assert [ref.top_anchor for ref in pages.refs()] == NAMES
    doc = pages.get(f"{SITE}faq")
    assert doc is not None
    assert doc.title == "Faq guide"
    assert doc.markdown.startswith("# Faq guide\n")
    assert "Last update" not in doc.markdown
    store.close()


def test_asides_are_told_apart_by_link_density() -> None:
    html = """<html><body><main><h1>Caching</h1><p>Rendered trees are cached.</p>
    <aside aria-label="Note" class="x-aside"><p class="x-title" aria-hidden="true">Note</p>
    <p>The cache is per process.</p></aside>
    <aside class="drawer"><a href="/a">Alpha</a> <a href="/b">Beta</a></aside>
    <div><aside class="src"><p>Inherited from Error.cause</p></aside></div>
    </main></body></html>"""
    content = extract(html, "https://h/caching").content_html
    assert "<blockquote><p><strong>Note</strong></p>" in content
    assert content.count("Note") == 1
    assert "The cache is per process." in content
    assert "Inherited from Error.cause" in content
    assert "Alpha" not in content


def test_a_listing_of_line_divs_is_code_and_sprite_icons_go() -> None:
    html = """<html><body><main><h1>Install</h1><div class="fragment">
    <div class="line">int main(void) {</div><div class="line">    return 0;</div>
    <div class="line">}</div><div class="tip">tooltip text</div></div>
    <p><svg viewBox="0 0 24 24"><use href="icons.svg#i"></use></svg>Done.</p>
    </main></body></html>"""
    content = extract(html, "https://h/install").content_html
    assert "<pre><code>int main(void) {\n    return 0;\n}</code></pre>" in content
    assert "tooltip text" in content
    assert "<svg" not in content


def test_content_alike_on_every_page_but_for_its_numbers_is_kept() -> None:
    """Pages whose only prose is the same sentence with another number ("Page number 3
    explains ...") keep it: a long block's digits count, and a template never takes all of
    a page's text."""
    docs = [
        Document(
            url=f"https://h/p{n}.html",
            final_url=f"https://h/p{n}.html",
            title=f"Page {n}",
            markdown=f"# Page {n}\n\n"
            + f"Page number {n} explains one part of the system in some detail. " * 3
            + "\n",
            headings=[Heading(1, f"Page {n}", f"p{n}")],
        )
        for n in range(1, 7)
    ]
    site = learn(docs)
    for doc in docs:
        assert "explains one part" in site.clean(doc).markdown


def test_headings_that_frame_most_pages_are_the_templates() -> None:
    template = learn(site())
    assert template.frames(3, "Modules")  # the heading block over the module list
    assert template.frames(1, "Acme v1.2 documentation")  # the banner
    assert not template.frames(1, "Usage guide")
    assert not template.frames(2, "Modules")  # another level is another block
    # A template without heading blocks frames no heading but its banners.
    plain = SiteTemplate(frozenset({"a line on every page"}), frozenset({"acme"}))
    assert plain.frames(1, "Acme") and not plain.frames(3, "Modules")
