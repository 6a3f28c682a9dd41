"""Extraction quality of one page: our Markdown against the main content marked by hand.

Pure: it takes the page's HTML, its truth (``tests/fixtures/corpus/<site>/truth.json``), and
the Markdown and title we exported for it, and returns counts; ``add`` sums pages into a
site or a whole corpus, where the ratios are taken over the summed counts (a long page
weighs more than a short one).

Tokens are the lowercase words (letters and digits; ``_`` splits, so ``__init__`` and an
escaped ``\\_\\_init\\_\\_`` give the same word) of visible text: the HTML's text without scripts,
styles and templates; the Markdown's text through the exporters' own ``plain_text`` (the
text field of the JSON export), which drops fences and emphasis marks, after link targets
are dropped here (``plain_text`` leaves a target that has parentheses in it).

- precision, recall, F1: multiset overlap of our tokens with the main content's.
- nav leak: the page's navigation words are the tokens outside the main content (its
  excluded parts count as outside) beyond those that the main content also has, counted multiset-wise;
  leaked are those of our tokens, beyond the main content's, that match them. Leak =
  leaked / navigation words.
- code blocks kept: fenced blocks in our Markdown against code blocks (``<pre>``, or the
  site's ``code`` selector) in the main content, capped at the truth's count.
- tables kept: Markdown (or HTML) tables against ``<table>`` (or the site's ``tables``
  selector) in the main content.
- title right: our title equals the truth's, case and spacing aside.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrape_api_docs.exporters.text import code_blocks, plain_text

_WORD = re.compile(r"[^\W_]+")
_LINK_TARGET = re.compile(r"\]\((?:<[^>]*>|(?:[^()\s]|\([^()\s]*\))*)(?:\s+\"[^\"]*\")?\)")
"""``](target "title")`` of a Markdown link or image, one level of parentheses inside the
target allowed (Javadoc's ``#wait(long,int)``); ``plain_text`` stops at the first ``)``."""
_INVISIBLE = "script, style, noscript, template, head"
_MD_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$", re.M)
_HTML_TABLE = re.compile(r"<table\b", re.I)
_TITLE_JUNK = "¶#§\u200b \t\n"


@dataclass(frozen=True)
class Truth:
    main: str
    """CSS selector (a group is fine) of the page's main content."""
    title: str
    exclude: tuple[str, ...] = ()
    """Selectors inside the main content that are not content: permalinks, edit links."""
    code: str = "pre"
    tables: str = "table"

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> Truth:
        return cls(
            main=entry["main"],
            title=entry["title"],
            exclude=tuple(entry.get("exclude", ())),
            code=entry.get("code", "pre"),
            tables=entry.get("tables", "table"),
        )


@dataclass
class Score:
    pages: int = 0
    ours: int = 0
    """Tokens in our Markdown."""
    truth: int = 0
    """Tokens in the true main content."""
    overlap: int = 0
    nav: int = 0
    """Navigation words on the page (outside the main content only)."""
    leaked: int = 0
    code_truth: int = 0
    code_kept: int = 0
    tables_truth: int = 0
    tables_kept: int = 0
    titles_right: int = 0
    wrong_titles: list[tuple[str, str]] = field(default_factory=list)
    """(ours, truth) for each wrong title."""

    @property
    def precision(self) -> float:
        return self.overlap / self.ours if self.ours else (1.0 if not self.truth else 0.0)

    @property
    def recall(self) -> float:
        return self.overlap / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def nav_leak(self) -> float:
        return self.leaked / self.nav if self.nav else 0.0

    def add(self, other: Score) -> Score:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, mine + theirs)
        return self


def tokens(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text.lower()))


def _text(node: LexborNode) -> str:
    return node.text(deep=True, separator=" ")


def _outermost(nodes: list[LexborNode]) -> list[LexborNode]:
    """Matches that are not inside another match (a group selector can match both)."""
    ids = {n.mem_id for n in nodes}
    out = []
    for node in nodes:
        parent, nested = node.parent, False
        while parent is not None:
            if parent.mem_id in ids:
                nested = True
                break
            parent = parent.parent
        if not nested:
            out.append(node)
    return out


def normalize_title(title: str) -> str:
    return " ".join(title.strip(_TITLE_JUNK).split()).casefold()


def markdown_text(markdown: str) -> str:
    return plain_text(_LINK_TARGET.sub("]", markdown))


def markdown_tables(markdown: str) -> int:
    return len(_MD_TABLE_RULE.findall(markdown)) + len(_HTML_TABLE.findall(markdown))


def score_page(html: str, truth: Truth, markdown: str, title: str) -> Score:
    """One page's counts. ``markdown`` empty and ``title`` empty for a page we lost."""
    tree = LexborHTMLParser(html)
    for node in tree.css(_INVISIBLE):
        node.decompose()
    body = tree.body or tree.root
    page_tokens = tokens(_text(body)) if body is not None else Counter()
    mains = _outermost(tree.css(truth.main))
    if not mains:
        raise ValueError(f"the truth's selector {truth.main!r} matches nothing on this page")
    for main in mains:
        for selector in truth.exclude:
            for node in main.css(selector):
                node.decompose()
    main_tokens: Counter[str] = Counter()
    code_truth = tables_truth = 0
    for main in mains:
        main_tokens += tokens(_text(main))
        code_truth += len(_outermost(main.css(truth.code)))
        tables_truth += len(main.css(truth.tables))
    nav_tokens = page_tokens - main_tokens
    ours = tokens(markdown_text(markdown))
    extra = ours - main_tokens
    right = bool(title) and normalize_title(title) == normalize_title(truth.title)
    return Score(
        pages=1,
        ours=ours.total(),
        truth=main_tokens.total(),
        overlap=(ours & main_tokens).total(),
        nav=nav_tokens.total(),
        leaked=(extra & nav_tokens).total(),
        code_truth=code_truth,
        code_kept=min(len(code_blocks(markdown)), code_truth),
        tables_truth=tables_truth,
        tables_kept=min(markdown_tables(markdown), tables_truth),
        titles_right=int(right),
        wrong_titles=[] if right else [(title, truth.title)],
    )
