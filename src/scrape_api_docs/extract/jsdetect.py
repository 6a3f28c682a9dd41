"""Is this page rendered by JavaScript? (an empty app root, framework markers, scripts
but almost no text). Used by ``/scrape/validate`` and, later, ``render_javascript: auto``."""

from __future__ import annotations

from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser

APP_ROOTS = "#root, #app, #__next, #__nuxt, #___gatsby, [data-reactroot], app-root, #svelte"
MARKERS = (
    ("__NEXT_DATA__", "Next.js"),
    ("window.__NUXT__", "Nuxt"),
    ("ng-version", "Angular"),
    ("data-v-app", "Vue"),
    ("__VUEPRESS", "VuePress"),
    ("docsify", "Docsify"),
    ("gitbook", "GitBook"),
)
MIN_TEXT = 200


@dataclass
class JsVerdict:
    javascript: bool
    reasons: list[str] = field(default_factory=list)
    text_length: int = 0
    scripts: int = 0


def detect_javascript(page_html: str) -> JsVerdict:
    tree = LexborHTMLParser(page_html)
    scripts = len(tree.css("script"))
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body
    text_length = len((body.text(deep=True) if body is not None else "").strip())
    reasons: list[str] = []
    for root in tree.css(APP_ROOTS):
        if len(root.text(deep=True).strip()) < MIN_TEXT:
            reasons.append(f"empty application root <{root.tag} id={root.id or ''}>")
            break
    markers = [name for needle, name in MARKERS if needle in page_html]
    if markers and text_length < MIN_TEXT * 5:
        reasons.append("framework markers: " + ", ".join(markers))
    if text_length < MIN_TEXT and scripts >= 3:
        reasons.append(f"only {text_length} characters of text with {scripts} scripts")
    return JsVerdict(bool(reasons), reasons, text_length, scripts)
