"""New elements made in a page's own document, not parsed from a string.

Extraction replaces many blocks of a page (every code listing, admonition, signature):
a new HTML parser per block cost ~30 µs each, a third of some rules' time; an element
created in the page's document costs under a microsecond. What the new element holds
is moved into it (``adopt``), never serialised and parsed again: a layout table of a
whole index page is megabytes of markup, and parsing it again held that much more memory
until the page was done.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode


def element(
    near: LexborNode,
    tag: str,
    *,
    attrs: dict[str, str] | None = None,
    text: str | None = None,
) -> LexborNode:
    """``<tag attrs>`` in ``near``'s document, holding ``text`` (as text, never parsed);
    not yet placed in the tree."""
    node = near.parser.create_node(tag)
    for name, value in (attrs or {}).items():
        node.attrs[name] = value
    if text is not None:
        node.insert_child(text)
    return node


def adopt(parent: LexborNode, source: LexborNode) -> LexborNode:
    """Move every child of ``source`` (elements, text, comments) to the end of
    ``parent``, in order; returns ``parent``."""
    child = source.first_child
    while child is not None:
        following = child.next
        parent.insert_child(child, move=True)
        child = following
    return parent
