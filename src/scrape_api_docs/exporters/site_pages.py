"""The page store as the book reads it: the site's template learned and taken out.

Why here, when the book is assembled, and not during the crawl: extraction sees one page
at a time, and the first pages of a crawl are extracted before the site's template can be
known. The page store keeps what each page gave; this view learns the template from a
sample of the stored pages (``extract.template``) and hands every exporter clean
documents and checked, distinct titles. Nothing is rewritten in the store, so the view is
the same whether the crawl ran in one go, resumed, or was converted later, and the cost
falls on the export (a sample of at most ``SAMPLE`` pages read once more), not on the
crawl's pages per second.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from scrape_api_docs.extract.document import Document, Heading
from scrape_api_docs.extract.order import PageRef
from scrape_api_docs.extract.template import SiteTemplate, distinct_titles, learn
from scrape_api_docs.storage.pages import PageStore

SAMPLE = 200
"""Pages the template is learned from, spread evenly over the site."""


class SitePages:
    """A ``PageStore`` (read side) over ``store`` with the site's template removed."""

    def __init__(self, store: PageStore, sample: int = SAMPLE) -> None:
        self.store = store
        refs = store.refs()
        step = max(1, len(refs) // sample) if sample else 1
        picked = [ref.key for ref in refs[::step][:sample]]
        self.template: SiteTemplate = learn(store.iter_documents(picked))
        titles = {}
        cores = {}
        for ref in refs:
            heads = [Heading(level, text, anchor) for level, text, anchor in ref.headings]
            titles[ref.key] = self.template.title(ref.page_title, heads, ref.title) or ref.title
            cores[ref.key] = self.template.page_title(ref.page_title)
        self.titles = distinct_titles(titles, cores)
        self._refs = [self._ref(ref) for ref in refs]

    def _ref(self, ref: PageRef) -> PageRef:
        title = self.titles.get(ref.key, ref.title)
        own = [h for h in ref.headings if not self.template.frames(h[0], h[1])]
        top = min((level for level, _, _ in own), default=0)
        opening = own[0][2] if own and own[0][0] == top else None
        if len(own) == len(ref.headings):
            opening = ref.top_anchor
        return replace(ref, title=title, top_anchor=opening)

    def refs(self) -> list[PageRef]:
        return list(self._refs)

    def get(self, key: str) -> Document | None:
        doc = self.store.get(key)
        if doc is None:
            return None
        clean = self.template.clean(doc)
        return replace(clean, title=self.titles.get(key, clean.title))

    def iter_documents(self, keys: list[str]) -> Iterator[Document]:
        for page in keys:
            doc = self.get(page)
            if doc is not None:
                yield doc

    def add(self, doc: Document) -> None:
        self.store.add(doc)

    def resume_records(self) -> Iterator[tuple[str, str, int, list[str]]]:
        return self.store.resume_records()

    def __len__(self) -> int:
        return len(self.store)

    def close(self) -> None:
        self.store.close()
