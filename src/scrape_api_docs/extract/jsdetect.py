"""Is this page rendered by JavaScript? Decides ``render_javascript: "auto"`` page by page
and the warning of ``POST /api/v1/scrape/validate``.

Signals, each enough on its own:

* an application root (``#root``, ``#app``, ``#__next``, ``<app-root>``, an API-reference
  web component such as ``<redoc>``) with no text, unless the page has its real content
  elsewhere (a ``<main>``/``<article>`` with text: the root is then a widget);
* a ``<noscript>`` asking for JavaScript, on a page with little text;
* framework markers (``__NEXT_DATA__``, ``window.$docsify``...) on a page with under 400
  characters of text (a server-rendered page has its text);
* almost no text but scripts (no text at all and a single script is enough: an app that
  mounts on an element without a conventional id, or a script redirect; a page with a
  line of text and one script, "This page moved.", stays static).

A false positive costs one browser render; a false negative loses the page's content, so
the thresholds lean towards rendering. Server-rendered sites (Docusaurus, VuePress,
Next.js with SSR) carry their text in the HTML and are static here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scrape_api_docs.encodings import decode_html

APP_ROOTS = (
    "#root, #app, #__next, #__nuxt, #___gatsby, #svelte, #q-app, #docs-root, #swagger-ui, "
    "[data-reactroot], app-root, redoc, rapi-doc, elements-api, elements-stoplight-project"
)
MARKERS = (
    ("__NEXT_DATA__", "Next.js"),
    ("window.__NUXT__", "Nuxt"),
    ("ng-version", "Angular"),
    ("data-v-app", "Vue"),
    ("__VUEPRESS", "VuePress"),
    ("window.$docsify", "Docsify"),
    ("data-server-rendered", "Vue SSR"),
    ("SwaggerUIBundle", "Swagger UI"),
    ("Redoc.init", "Redoc"),
    ("@stoplight/elements", "Stoplight Elements"),
    ("gitbook", "GitBook"),
)
MIN_TEXT = 200
"""Characters of visible text below which a page has no real content."""
EMPTY_ROOT = 40
"""An application root with fewer characters than this is a mount point ("Loading...")."""
_NOSCRIPT_ASK = re.compile(r"\b(enable|requires?|needs?|turn on)\b[^<]{0,40}\bjavascript", re.I)


@dataclass
class JsVerdict:
    javascript: bool
    reasons: list[str] = field(default_factory=list)
    text_length: int = 0
    scripts: int = 0


def detect_javascript(page_html: str) -> JsVerdict:
    tree = LexborHTMLParser(page_html)
    scripts = tree.css("script")
    script_count = len(scripts)
    modules = sum(1 for s in scripts if (s.attributes.get("type") or "") == "module")
    noscript_ask = any(_NOSCRIPT_ASK.search(n.text(deep=True)) for n in tree.css("noscript"))
    for node in tree.css("script, style, noscript, template"):
        node.decompose()
    body = tree.body
    text_length = len(_text(body))
    reasons: list[str] = []
    root = _empty_app_root(tree)
    if root is not None:
        reasons.append(f"empty application root <{root.tag}{_id(root)}>")
    if noscript_ask and text_length < MIN_TEXT * 5:
        reasons.append("<noscript> asks for JavaScript")
    markers = [name for needle, name in MARKERS if needle in page_html]
    if markers and text_length < MIN_TEXT * 2:
        reasons.append("framework markers: " + ", ".join(markers))
    if (text_length < MIN_TEXT and (script_count >= 2 or modules)) or (
        text_length == 0 and script_count
    ):
        reasons.append(f"only {text_length} characters of text with {script_count} scripts")
    return JsVerdict(bool(reasons), reasons, text_length, script_count)


def detect_javascript_in(body: bytes, content_type: str | None) -> JsVerdict:
    """``detect_javascript`` of a response body (module-level, for process pools)."""
    text, _ = decode_html(body, content_type)
    return detect_javascript(text)


def _text(node: LexborNode | None) -> str:
    return (node.text(deep=True) if node is not None else "").strip()


def _id(node: LexborNode) -> str:
    return f' id="{node.id}"' if node.id else ""


def _empty_app_root(tree: LexborHTMLParser) -> LexborNode | None:
    """The first application root with no text, unless real content lives elsewhere."""
    for root in tree.css(APP_ROOTS):
        if len(_text(root)) >= EMPTY_ROOT:
            continue
        # (A <main> with text cannot be inside a root this empty.)
        if any(len(_text(c)) >= MIN_TEXT for c in tree.css("main, article, [role=main]")):
            return None
        return root
    return None
