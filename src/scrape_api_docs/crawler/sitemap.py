"""sitemap.xml parsing: URL sets and nested indexes, plain or gzip, safely.

XML from the web is untrusted: no entity expansion, no network, no huge trees.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from lxml import etree

MAX_URLS_PER_SITEMAP = 50_000  # the sitemaps.org protocol's own limit
MAX_UNZIPPED = 50 * 1024 * 1024


@dataclass
class SitemapContent:
    pages: list[str] = field(default_factory=list)
    sitemaps: list[str] = field(default_factory=list)


def _gunzip(data: bytes) -> bytes:
    d = zlib.decompressobj(47)
    out = d.decompress(data, MAX_UNZIPPED + 1)
    if len(out) > MAX_UNZIPPED:
        raise ValueError("sitemap larger than 50 MB once decompressed")
    return out


def parse_sitemap(data: bytes) -> SitemapContent:
    """Read a ``<urlset>`` or ``<sitemapindex>``; raise ValueError for anything else."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip(data)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, recover=True, load_dtd=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not XML: {exc}") from exc
    if root is None:
        raise ValueError("empty or unreadable sitemap")
    kind = etree.QName(root).localname
    if kind not in ("urlset", "sitemapindex"):
        raise ValueError(f"not a sitemap (root element <{kind}>)")
    content = SitemapContent()
    target = content.pages if kind == "urlset" else content.sitemaps
    for loc in root.iter("{*}loc", "loc"):
        if loc.text and loc.text.strip():
            target.append(loc.text.strip())
            if len(target) >= MAX_URLS_PER_SITEMAP:
                break
    return content
