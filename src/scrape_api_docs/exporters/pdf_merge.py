"""Merging the printed parts of a PDF into one book (pypdf): links between chapters
resolved to page positions, the outline built from named destinations, pages numbered
and the contents given the page number of each chapter.
See ``exporters/pdf.py`` for why the book is printed in parts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    Fit,
    FloatObject,
    NameObject,
    NullObject,
    PdfObject,
)

from scrape_api_docs.exporters.book import Book, chapter_of

CHAPTER_LINK = "https://pdf.invalid/chapter/"
"""How a printed part links to a chapter that may be in another part (resolved here)."""


class Merger:
    """Collects the printed parts into one PdfWriter; ``finish`` writes the book."""

    def __init__(self) -> None:
        self.writer = PdfWriter()
        self.targets: dict[str, tuple[int, float, float]] = {}
        """Destination name -> (page index in the book, left, top)."""
        self.outline: list[tuple[int, str, str]] = []

    def add(self, part: Path, outline: list[tuple[int, str, str]]) -> None:
        """Append ``part``. Its named destinations are taken out first (merged by pypdf
        they would go to a name tree, one sorted insert each) and kept here by page index;
        its links by name become explicit destinations on its own pages."""
        reader = PdfReader(part)
        offset = len(self.writer.pages)
        index = {page.indirect_reference.idnum: i for i, page in enumerate(reader.pages)}  # type: ignore[union-attr]
        local: dict[str, ArrayObject] = {}
        for name, dest in reader.named_destinations.items():
            page_ref = dest.raw_get("/Page")
            position = index.get(getattr(page_ref, "idnum", -1))
            if position is None:
                continue
            key = str(name).removeprefix("/")
            left, top = float(dest.left or 0), float(dest.top or 0)
            self.targets[key] = (offset + position, left, top)
            local[key] = ArrayObject(
                [page_ref, NameObject("/XYZ"), FloatObject(left), FloatObject(top), NullObject()]
            )
        for page in reader.pages:
            for ref in _annotations(page):
                annot = ref.get_object()
                if not isinstance(annot, DictionaryObject):
                    continue
                by_name = annot.get("/Dest")
                if isinstance(by_name, str):  # NameObject or TextStringObject
                    target = local.get(by_name.removeprefix("/"))
                    if target is not None:
                        annot[NameObject("/Dest")] = target
        root = reader.trailer["/Root"]
        assert isinstance(root, DictionaryObject)
        for key in ("/Dests", "/Names", "/Outlines"):
            root.pop(key, None)
        self.writer.append(reader, import_outline=False)
        # pypdf keeps every source document alive for later copies from it (there are
        # none): without this, all the parts would stay in memory till the end (+450 MB
        # for the Python docs). Private attributes: if they go, only memory is lost.
        getattr(self.writer, "_id_translated", {}).pop(id(reader), None)
        getattr(self.writer, "_merged_in_pages", {}).clear()  # links between documents
        for page in self.writer.pages[offset:]:
            page.__dict__.pop("original_page", None)
        self.outline.extend(outline)
        part.unlink()

    def finish(self, path: Path, book: Book, meta: Mapping[str, str]) -> None:
        writer = self.writer
        self._link_chapters()
        self._add_outline()
        first = self.targets.get(book.chapters[0].anchor) if book.chapters else None
        stamper = _Stamper(writer)
        if first is not None:  # the contents: between the cover and the first chapter
            number_contents(stamper, range(1, first[0]))
        number_pages(stamper)
        info = {"/Title": book.title, "/Creator": "scrape-api-docs", "/Subject": book.start_url}
        if meta.get("author"):
            info["/Author"] = meta["author"]
        writer.add_metadata(info)
        writer.page_mode = "/UseOutlines"
        partial = path.with_name(path.name + ".part")
        with partial.open("wb") as out:
            writer.write(out)
        partial.replace(path)

    def _destination(self, name: str) -> ArrayObject | None:
        found = self.targets.get(name)
        if found is None:
            return None
        page, left, top = found
        ref = self.writer.pages[page].indirect_reference
        return ArrayObject(
            [ref, NameObject("/XYZ"), FloatObject(left), FloatObject(top), NullObject()]
        )

    def _link_chapters(self) -> None:
        """Links to chapters (URIs under ``CHAPTER_LINK``) as explicit destinations; one
        whose chapter is not in the book is removed."""
        for page in self.writer.pages:
            refs = _annotations(page)
            if not refs:
                continue
            kept = ArrayObject()
            for ref in refs:
                annot = ref.get_object()
                action = annot.get("/A") if isinstance(annot, DictionaryObject) else None
                uri = action.get("/URI") if isinstance(action, DictionaryObject) else None
                if (
                    isinstance(annot, DictionaryObject)
                    and isinstance(uri, str)
                    and uri.startswith(CHAPTER_LINK)
                ):
                    name = uri[len(CHAPTER_LINK) :]  # a section's, else its chapter's
                    dest = self._destination(name) or self._destination(chapter_of(name))
                    if dest is None:
                        continue
                    del annot["/A"]
                    annot[NameObject("/Dest")] = dest
                kept.append(ref)
            page[NameObject("/Annots")] = kept

    def _add_outline(self) -> None:
        """Bookmarks: chapters at the top (closed), their headings below."""
        stack: list[tuple[int, object]] = []
        for level, title, name in self.outline:
            found = self.targets.get(name)
            if found is None:
                continue
            page, left, top = found
            while stack and stack[-1][0] >= level:
                stack.pop()
            item = self.writer.add_outline_item(
                title=title,
                page_number=page,
                parent=stack[-1][1] if stack else None,  # type: ignore[arg-type]
                fit=Fit.xyz(left, top, None),
                is_open=False,
            )
            stack.append((level, item))


def _annotations(page: DictionaryObject) -> list[PdfObject]:
    annots = page.get("/Annots")
    annots = annots.get_object() if annots is not None else None
    return list(annots) if isinstance(annots, ArrayObject) else []


_HELVETICA_WIDTHS = {"/": 278, " ": 278}
"""Glyph widths (1/1000 em) of the page-number characters; every digit is 556."""


class _Stamper:
    """Draws text on pages after their own content, in Helvetica (a standard font: nothing
    to embed). The page's content is wrapped in q ... Q so whatever graphics state it
    leaves is undone first."""

    def __init__(self, writer: PdfWriter) -> None:
        self.writer = writer
        self.font = writer._add_object(
            DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject("/Helvetica"),
                    NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
                }
            )
        )
        self.opening = writer._add_object(_stream(b"q\n"))

    def text(
        self, page: PageObject, size: float, gray: float, items: list[tuple[float, float, str]]
    ) -> None:
        """Each ``(x, y, label)`` of ``items`` at that point (user space, points)."""
        resources = page.get("/Resources")
        if not items or not isinstance(resources, DictionaryObject):
            return
        fonts = resources.get("/Font")
        if not isinstance(fonts, DictionaryObject):
            fonts = DictionaryObject()
            resources[NameObject("/Font")] = fonts
        fonts[NameObject("/StampFont")] = self.font
        drawn = " ".join(
            f"BT /StampFont {size:g} Tf {gray:g} g {x:.2f} {y:.2f} Td ({label}) Tj ET"
            for x, y, label in items
        )
        stamp = self.writer._add_object(_stream(f"Q q {drawn} Q\n".encode()))
        contents = page.raw_get("/Contents") if "/Contents" in page else None
        resolved = contents.get_object() if contents is not None else None
        existing = list(resolved) if isinstance(resolved, ArrayObject) else [contents]
        page[NameObject("/Contents")] = ArrayObject(
            [self.opening, *(item for item in existing if item is not None), stamp]
        )


def _width(label: str, size: float) -> float:
    return sum(_HELVETICA_WIDTHS.get(c, 556) for c in label) * size / 1000


def number_pages(stamper: _Stamper) -> None:
    """``n / total`` centred in the bottom margin of every page but the cover."""
    pages = stamper.writer.pages
    size = 8
    for number, page in enumerate(pages, start=1):
        if number == 1:
            continue
        label = f"{number} / {len(pages)}"
        box = page.mediabox
        x = float(box.left) + (float(box.width) - _width(label, size)) / 2
        stamper.text(page, size, 0.4, [(x, float(box.bottom) + 24, label)])


CONTENTS_MARGIN = 42.5
"""Points from the right edge of the paper to the contents' page numbers: 15 mm, the
printed pages' right margin (``pdf.CSS``)."""


def number_contents(stamper: _Stamper, pages: range) -> None:
    """Beside each entry of the contents pages, right-aligned, the number of the page its
    link goes to (as stamped by ``number_pages``). An entry wrapped on several lines has a
    link per line: the number goes on its last."""
    writer = stamper.writer
    index = {
        p.indirect_reference.idnum: i for i, p in enumerate(writer.pages) if p.indirect_reference
    }
    size = 10
    for number in pages:
        page = writer.pages[number]
        entries: list[tuple[int, float]] = []  # (target page, baseline)
        for ref in _annotations(page):
            annot = ref.get_object()
            dest = annot.get("/Dest") if isinstance(annot, DictionaryObject) else None
            rect = annot.get("/Rect") if isinstance(annot, DictionaryObject) else None
            if not isinstance(dest, ArrayObject) or not isinstance(rect, ArrayObject):
                continue
            target = index.get(getattr(dest[0], "idnum", -1))
            if target is None:
                continue
            bottom, top = sorted((float(rect[1]), float(rect[3])))
            baseline = bottom + (top - bottom) * 0.16  # the rect spans the glyphs
            if entries and entries[-1][0] == target:
                entries[-1] = (target, baseline)  # the same entry's next line
            else:
                entries.append((target, baseline))
        right = float(page.mediabox.right) - CONTENTS_MARGIN
        labels = [(str(target + 1), y) for target, y in entries]
        stamper.text(page, size, 0, [(right - _width(t, size), y, t) for t, y in labels])


def _stream(data: bytes) -> DecodedStreamObject:
    stream = DecodedStreamObject()
    stream.set_data(data)
    return stream
