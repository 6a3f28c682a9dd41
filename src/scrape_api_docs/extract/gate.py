"""The per-page quality gate: is what extraction got from a page content a reader wants?

Some answers with status 200 are no documentation: a bot challenge ("Just a moment...",
"Verify you are human"), an "Access denied" page, a soft 404 ("Page not found" served as
200), or an app shell whose content never came (a root element and scripts, no text).
Written into a book they read as a chapter of nonsense. ``judge`` tells them from content
by values alone (the page's title, its Markdown, a few bytes of its HTML); the crawler
renders such a page where rendering is allowed, judges it again, and otherwise counts it as
an error with the reason given here.

Every rule needs a short page: a real page that merely talks about 404s, captchas or
forbidden access has far more text than these answers do.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from scrape_api_docs.extract.document import Document

SHORT_PAGE = 150
"""Words of content at most for a page to be judged an error answer (the ones seen have
5-60; a documentation page saying the same words has hundreds)."""
EMPTY_PAGE = 2
"""Words of content (the title aside) at most for a scripted page to be an empty shell."""
OPENING = 12
"""Words at the start of a page without a heading where the telling phrase may be; else
it must be in the title or the page's first heading (a short API page may well say "not
found" further down)."""

_WORD = re.compile(r"[^\W_]+")
_CHALLENGE = re.compile(
    r"just a moment|checking (?:your|if the site connection is) (?:browser|secure)"
    r"|verify(?:ing)? (?:that )?you are (?:a )?human|are you a robot|attention required"
    r"|enable javascript and cookies to continue|ddos protection|unusual traffic"
    r"|complete the security check|bot (?:verification|detection|protection)"
    r"|security check to access|one more step",
)
_CHALLENGE_MARKERS = (
    b"challenge-platform",
    b"cf-chl",
    b"cf_chl",
    b"g-recaptcha",
    b"h-captcha",
    b"cf-turnstile",
    b"_incapsula_",
    b"px-captcha",
)
"""What a challenge page's HTML carries (the scripts and widgets of the big vendors)."""
_DENIED = re.compile(
    r"access (?:is )?denied|access to this (?:page|resource) (?:has been|is) denied"
    r"|\b403\b|forbidden|(?:do not|don't|don’t) have (?:the )?permission"
    r"|request (?:was )?blocked|you have been blocked|not authori[sz]ed|unauthori[sz]ed",
)
_NOT_FOUND = re.compile(
    r"\b404\b|not found|(?:does not|doesn't|doesn’t) exist|(?:could|can)(?:not|n't|’t)"
    r" (?:be )?found|no longer (?:exists|available)|nothing (?:was )?found|page is missing"
    r"|(?:this|the) page (?:you (?:requested|were looking for) )?(?:is|was) (?:gone|moved)",
)
_TITLE = re.compile(rb"<title[^>]*>([^<]{0,300})</title")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+)$", re.M)
_MARKUP = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|<[^>]+>|[#*_`>|\\-]+")


_ANSWERS = (
    ("bot challenge", "a bot challenge", _CHALLENGE),
    ("access denied", "an access-denied answer", _DENIED),
    ("soft 404", 'a "not found" answer served as a page', _NOT_FOUND),
)


@dataclass(frozen=True)
class Problem:
    reason: str
    """Short and stable (a statistics key): "bot challenge", "access denied", "soft 404",
    "empty page"."""
    detail: str
    """What gave it away, for the error message."""


def judge(title: str, markdown: str, *, scripted: bool, markers: bool = False) -> Problem | None:
    """The problem with a page whose extraction gave ``title`` and ``markdown``, if any.

    ``scripted``: the page's HTML has scripts (an app shell, a challenge that runs);
    ``markers``: it carries a bot-challenge vendor's widget or script."""
    words = _WORD.findall(_MARKUP.sub(r" \1 ", markdown).lower())
    if len(words) > SHORT_PAGE:
        return None
    title_text = " ".join(title.lower().split())
    heading = _HEADING.search(markdown)
    opening = heading.group(1).lower() if heading else " ".join(words[:OPENING])
    said = f"{title_text} \n {opening}"
    for reason, what, rule in _ANSWERS:
        found = rule.search(said)
        if found is not None:
            return Problem(reason, f"reads as {what} ({found.group(0)!r}), not content")
    if markers and len(words) <= SHORT_PAGE // 2:
        return Problem(
            "bot challenge", "reads as a bot challenge (a challenge widget), not content"
        )
    title_words = set(_WORD.findall(title_text))
    if scripted and sum(1 for w in words if w not in title_words) <= EMPTY_PAGE:
        return Problem("empty page", "the page has scripts and no content (an app shell)")
    return None


def judge_page(body: bytes, doc: Document) -> Problem | None:
    """``judge`` for a fetched page: its HTML ``body`` and the Document extracted from it
    (the title judged is both extraction's and the HTML's ``<title>``).
        Long pages are passed on their word count alone; the HTML is looked at only for short
        ones."""
    if len(doc.markdown) > SHORT_PAGE * 20:  # cheaper than counting: surely long enough
        return None
    head = body[:200_000].lower()
    found = _TITLE.search(head)
    page_title = found.group(1).decode("utf-8", "replace") if found else ""
    return judge(
        f"{doc.title} \n {html.unescape(page_title)}",
        doc.markdown,
        scripted=b"<script" in head,
        markers=any(marker in head for marker in _CHALLENGE_MARKERS),
    )
