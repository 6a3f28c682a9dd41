"""Images for the exports that embed them (PDF, EPUB, HTML site), fetched through the
crawler's network policy and size caps, kept in a folder so each is fetched once per job.

Renderers never fetch anything themselves: the PDF browser has every request aborted and
is handed these files, so no export can reach a private address or a ``file://`` path.
An SVG is kept only when it is self-contained (``self_contained_svg``): a scripted one
would run its script when the exported file is opened on its own (from an HTML site served
on a docs host, that is stored XSS), and one pointing at other files would fetch them or
show broken in every offline format. A dropped image leaves its alt text.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from scrape_api_docs.crawler.fetch import FetcherOptions, HttpFetcher
from scrape_api_docs.crawler.netpolicy import NetworkPolicy
from scrape_api_docs.errors import ScraperError

# Sniffed from the bytes, never trusted from the server's Content-Type.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
)

SVG = "http://www.w3.org/2000/svg"
_REMOTE_URL = re.compile(r"url\(\s*['\"]?(?!#)|@import", re.I)


@dataclass(frozen=True)
class LocalImage:
    url: str
    path: Path
    media_type: str

    @property
    def name(self) -> str:
        return self.path.name


def sniff(body: bytes) -> tuple[str, str] | None:
    """(media type, extension) of a PNG, JPEG, GIF, WebP or SVG image; None otherwise."""
    for magic, media_type, ext in _SIGNATURES:
        if body.startswith(magic):
            return media_type, ext
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp", ".webp"
    head = body[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "image/svg+xml", ".svg"
    return None


def self_contained_svg(body: bytes) -> bytes | None:
    """The SVG without its DOCTYPE (no external DTD), or None when it is not well-formed,
    has scripts, event handlers or foreign objects, or references other files."""
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    if root.tag != f"{{{SVG}}}svg":
        return None
    for el in root.iter():
        if isinstance(el, etree._Entity):  # an entity left unresolved
            return None
        if not isinstance(el.tag, str):  # comments, processing instructions
            continue
        if etree.QName(el).localname in ("script", "foreignObject"):
            return None
        if el.text and _REMOTE_URL.search(el.text):
            return None
        for name, value in el.attrib.items():
            local = etree.QName(name).localname
            if local.startswith("on") or (local == "href" and not value.startswith("#")):
                return None
            if _REMOTE_URL.search(value):
                return None
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))


class ImageLoader:
    """Fetches images by URL into ``folder``; a URL that fails is remembered as missing."""

    def __init__(
        self,
        policy: NetworkPolicy,
        folder: Path,
        *,
        user_agent: str,
        max_bytes: int = 5 * 1024 * 1024,
        max_images: int = 2000,
        timeout: float = 15.0,
        concurrency: int = 8,
    ) -> None:
        self.policy = policy
        self.folder = folder
        self.user_agent = user_agent
        self.max_bytes = max_bytes
        self.max_images = max_images
        self.timeout = timeout
        self.concurrency = concurrency
        self._done: dict[str, LocalImage | None] = {}

    def fetch(self, urls: Iterable[str]) -> dict[str, LocalImage]:
        """The images among ``urls`` that could be fetched (http(s) only, allowed by the
        policy, a real image within the size cap). Call from a thread without a loop."""
        wanted = [u for u in dict.fromkeys(urls) if u.startswith(("http://", "https://"))]
        room = max(0, self.max_images - len(self._done))
        todo = [u for u in wanted if u not in self._done][:room]
        if todo:
            asyncio.run(self._fetch_all(todo))
        return {u: image for u in wanted if (image := self._done.get(u)) is not None}

    async def _fetch_all(self, urls: list[str]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        options = FetcherOptions(
            user_agent=self.user_agent, timeout=self.timeout, max_body_bytes=self.max_bytes
        )
        limit = asyncio.Semaphore(self.concurrency)
        async with HttpFetcher(self.policy, options) as fetcher:

            async def one(url: str) -> None:
                async with limit:
                    self._done[url] = await self._fetch_one(fetcher, url)

            await asyncio.gather(*(one(u) for u in urls))

    async def _fetch_one(self, fetcher: HttpFetcher, url: str) -> LocalImage | None:
        try:
            response = await fetcher.get(url, html_only=False)
        except ScraperError:
            return None
        if response.status != 200 or not response.body:
            return None
        kind = sniff(response.body)
        if kind is None:
            return None
        media_type, ext = kind
        body = response.body
        if media_type == "image/svg+xml":
            clean = self_contained_svg(body)
            if clean is None:
                return None
            body = clean
        path = self.folder / (hashlib.sha256(url.encode()).hexdigest()[:24] + ext)
        await asyncio.to_thread(path.write_bytes, body)
        return LocalImage(url, path, media_type)
