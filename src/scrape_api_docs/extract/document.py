"""The Document: what extraction makes of one fetched page, and what stores and exporters read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass
class Term:
    """A defined term that had an id (``<dt id>``: an API entry, a glossary term)."""

    text: str
    """As its paragraph shows it: a signature's text, or the term's."""
    anchor: str


@dataclass
class Document:
    url: str
    """The URL the crawl asked for (its canonical form is the page's identity)."""
    final_url: str
    """Where the page really was, after redirects; relative links resolve against it."""
    title: str
    markdown: str
    page_title: str = ""
    """The page's ``<title>`` as it is (the book's title check trims the site's part)."""
    headings: list[Heading] = field(default_factory=list)
    terms: list[Term] = field(default_factory=list)
    """Terms with ids, in page order: what else a link's ``#id`` may land on."""
    places: dict[str, int] = field(default_factory=dict)
    """Where each other id of the content sits (a ``<div id>`` entry, a ``<span id>``, an
    ``<a name>``, a term's paragraph): the character offset in ``markdown`` of the line,
    or of the spot in it, where that element's text begins. A link to ``page#id`` lands
    there."""
    links: list[str] = field(default_factory=list)
    """Every http(s) page the page links to, absolute, fragment dropped, in page order."""
    content_links: list[str] = field(default_factory=list)
    """Links inside the main content only, in order."""
    toc_links: list[str] = field(default_factory=list)
    """Links of the page's navigation / table of contents, in order (reading order hints)."""
    toc_outline: list[tuple[int, str, str]] = field(default_factory=list)
    """That navigation's nesting: ``(level, page URL, part label)`` entries
    (``extract.navtree``); how the site nests its pages."""
    code_languages: list[str] = field(default_factory=list)
    depth: int = 0
    fetched_at: str = ""
    from_cache: bool = False
