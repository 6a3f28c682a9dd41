"""API entries' signatures as headings: what a reader scans and a chunker splits on.

An API reference is a run of entries, each a signature then its description. Generators
write the signature in one of two shapes, whatever their theme:

* the term of a definition list (``<dl><dt id="mod.func">func(a, b)</dt><dd>...``: Sphinx
  and its autodoc, Doxygen's member lists, many hand-written references): a ``<dt>`` that
  carries an id or code and reads as code (brackets, a colon, an ``=``);
* an element with the entry's id whose first block is the signature naming it
  (``<div id="Widget.add"><div>def add(self, child)</div>...``: pdoc and its kin).

Each becomes a heading one level below the page's heading it follows, one more level per
entry it is nested in (a method in its class), with the entry's id, its text in code; in a
list item or a table cell, where no heading can stand, a line of code. A
rustdoc item or a Javadoc member already has its own heading and is left as it is.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

from scrape_api_docs.extract.document import Term
from scrape_api_docs.extract.nodes import adopt, element

MAX_SIGNATURE = 400
"""Characters of a signature at most (a description is longer)."""
_CODE_LIKE = re.compile(r"[()\[\]:=<>]")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_BLOCKS = "p, pre, ul, ol, dl, table, section, blockquote, h1, h2, h3, h4, h5, h6"
_NAME_SPLIT = re.compile(r"[.:/#-]+")
_WS = re.compile(r"\s+")


def signature_headings(content: LexborNode) -> list[Term]:
    """Turn the signatures of ``content`` into headings (see the module's docstring); the
    other terms of its definition lists become bold paragraphs. Returns the terms with an
    id that stayed terms."""
    seen: set[int] = set()
    base = 1  # the level of the last heading of the page's own
    entries: dict[int, int] = {}  # mem_id of an entry's element -> its heading level
    terms: list[Term] = []
    for node in content.css("h1, h2, h3, h4, h5, h6, dt, [id]"):
        if node.mem_id in seen:
            continue
        seen.add(node.mem_id)
        if node.tag in _HEADINGS:
            if not _inside(node, entries):  # an entry's own headings ("Parameters") aside
                base = int((node.tag or "h1")[1])
            continue
        if node.tag == "dt":
            text = _text(node)
            anchor = node.id
            is_signature = _is_signature_term(node, text)
            if is_signature and _in_item(node):
                # A heading cannot stand in a list item or a cell: a code line there.
                if anchor:
                    terms.append(Term(text, anchor))
                _to_code_line(node, anchor, text)
            elif is_signature:
                level = _level(node, base, entries)
                description = _description(node)
                if description is not None:  # its nested entries sit in there
                    entries[description.mem_id] = level
                _to_heading(node, level, anchor, text)
            else:
                if anchor and text:
                    terms.append(Term(text, anchor))
                _to_bold(node, anchor)
            continue
        signature = _signature_of(node)
        if signature is not None and not _in_item(node):
            level = _level(node, base, entries)
            entries[node.mem_id] = level
            anchor = node.id
            del node.attrs["id"]  # the heading carries it now
            _to_heading(signature, level, anchor)
    for item in content.css("dl, dd"):  # a list's descriptions outlive its unwrapping
        item.unwrap()
    return terms


def _is_signature_term(dt: LexborNode, text: str) -> bool:
    """Whether a term (whose text is ``text``) is an entry's signature."""
    if not text or len(text) > MAX_SIGNATURE:
        return False
    if dt.css_first("code, tt, samp, .pre, .sig-name, .descname") is not None:
        return True
    return bool(dt.id) and _CODE_LIKE.search(text) is not None


def _signature_of(node: LexborNode) -> LexborNode | None:
    """The signature that opens an entry element with an id, if it has one: its first
    element, a short line with no blocks in it that names the id (``def add(...)`` in
    ``#Widget.add``) and reads as code."""
    anchor = node.id or ""
    if node.tag in _HEADINGS or node.tag in ("dt", "p", "span", "a", "code") or not anchor:
        return None
    first = node.child
    while first is not None and not (first.is_element_node and first.tag not in ("input",)):
        if first.is_text_node and (first.text_content or "").strip():
            return None
        first = first.next
    if first is None or first.tag in _HEADINGS or first.tag in ("p", "pre", "dl", "ul", "ol"):
        return None
    if any(b.mem_id != first.mem_id for b in first.css(_BLOCKS)) or len(first.css("*")) < 3:
        return None  # (a node's own css() includes the node)
    text = _text(first, skip_labels=True)
    name = _NAME_SPLIT.split(anchor.strip())[-1]
    if not name or len(text) > MAX_SIGNATURE or not _CODE_LIKE.search(text):
        return None
    return first if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text) else None


def _level(node: LexborNode, base: int, entries: dict[int, int]) -> int:
    """One below the entry ``node`` is nested in, else one below the page's heading."""
    up = node.parent
    while up is not None:
        level = entries.get(up.mem_id)
        if level is not None:
            return min(6, level + 1)
        up = up.parent
    return min(6, max(2, base + 1))


def _inside(node: LexborNode, entries: dict[int, int]) -> bool:
    up = node.parent
    while up is not None:
        if up.mem_id in entries:
            return True
        up = up.parent
    return False


def _description(dt: LexborNode) -> LexborNode | None:
    """The ``<dd>`` that follows a term (what its nested entries sit in)."""
    node = dt.next
    while node is not None and not node.is_element_node:
        node = node.next
    return node if node is not None and node.tag == "dd" else None


def _to_heading(node: LexborNode, level: int, anchor: str | None, text: str = "") -> None:
    """The signature ``node`` becomes a heading (of ``text``, its text when it has no
    form label)."""
    if not text or node.css_first("label") is not None:
        text = _text(node, skip_labels=True)
    node.replace_with(_code_in(node, f"h{level}", anchor, text), move=True)


def _in_item(node: LexborNode) -> bool:
    """Whether ``node`` sits in a list item or a table cell."""
    up = node.parent
    while up is not None:
        if up.tag in ("li", "td", "th"):
            return True
        up = up.parent
    return False


def _to_code_line(dt: LexborNode, anchor: str | None, text: str) -> None:
    dt.replace_with(_code_in(dt, "p", anchor, text), move=True)


def _code_in(near: LexborNode, tag: str, anchor: str | None, text: str) -> LexborNode:
    """``<tag id="anchor"><code>text</code></tag>``, made in ``near``'s document."""
    fresh = element(near, tag, attrs={"id": anchor} if anchor else None)
    fresh.insert_child(element(near, "code", text=text), move=True)
    return fresh


def _to_bold(dt: LexborNode, anchor: str | None) -> None:
    # The paragraph keeps the term's id: ``_mark_targets`` finds it there.
    fresh = element(dt, "p", attrs={"id": anchor} if anchor else None)
    fresh.insert_child(adopt(element(dt, "strong"), dt), move=True)
    dt.replace_with(fresh, move=True)


def _text(node: LexborNode, *, skip_labels: bool = False) -> str:
    """The text of a signature: inline runs joined as they are (``f(x)``, not ``f ( x )``),
    without form labels (pdoc's "View Source" toggle) when asked."""
    if skip_labels and node.css_first("label") is not None:
        parts: list[str] = []

        def walk(current: LexborNode) -> None:
            child = current.child
            while child is not None:
                if child.is_text_node:
                    parts.append(child.text_content or "")
                elif child.is_element_node and child.tag != "label":
                    walk(child)
                child = child.next

        walk(node)
        return _WS.sub(" ", "".join(parts)).strip()
    return _WS.sub(" ", node.text(deep=True, separator="")).strip()
