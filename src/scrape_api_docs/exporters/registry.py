"""Exporters by name: what ``--format`` and ``export_formats`` choose from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scrape_api_docs.errors import InvalidOptionsError
from scrape_api_docs.exporters.book import Book
from scrape_api_docs.exporters.markdown_book import export_markdown


@dataclass(frozen=True)
class Exporter:
    name: str
    extension: str
    content_type: str
    build: Callable[[Book, Path], Path]


EXPORTERS: dict[str, Exporter] = {
    "markdown": Exporter("markdown", ".md", "text/markdown; charset=utf-8", export_markdown),
}


def get_exporter(name: str) -> Exporter:
    try:
        return EXPORTERS[name]
    except KeyError:
        valid = ", ".join(sorted(EXPORTERS))
        raise InvalidOptionsError(
            f"unknown export format {name!r}; valid formats: {valid}",
            details={"format": name, "valid": sorted(EXPORTERS)},
        ) from None
