"""Layout tables become what they lay out: a table used to put lists side by side (Sphinx's
general index in columns, an index of functions in four columns, an old site's page grid)
is no table of data, and as a Markdown table it is one row hundreds of characters wide.

A table is laid out, not tabulated, when it has no header (no ``<th>``, no ``<thead>``)
and its cells hold blocks: a list, or more than one paragraph or block. Its cells then
follow one another, row by row, each as the blocks it held. A table with a header, or
whose cells hold text only, is data and stays a table.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from scrape_api_docs.extract.nodes import adopt, element

_LISTS = "ul, ol, dl"
_BLOCKS = frozenset({"p", "div", "pre", "table", "blockquote", "section", "h1", "h2", "h3"})
_BLOCKS |= frozenset({"h4", "h5", "h6", "ul", "ol", "dl"})


def unwrap_layout_tables(content: LexborNode) -> None:
    """Replace each layout table of ``content`` (innermost first) by its cells' blocks."""
    for table in reversed(content.css("table")):
        if table.parent is None or not _is_layout(table):
            continue
        cells = [cell for cell in table.css("td") if _owner(cell) == table.mem_id]
        blocks = element(table, "div")
        for cell in cells:
            blocks.insert_child(adopt(element(table, "div"), cell), move=True)
        table.replace_with(blocks, move=True)


def _is_layout(table: LexborNode) -> bool:
    if table.css_first("th, thead") is not None:
        return False
    for cell in table.css("td"):
        if cell.css_first(_LISTS) is not None:
            return True
        blocks = 0
        child = cell.child
        while child is not None:
            if child.is_element_node and child.tag in _BLOCKS:
                blocks += 1
            child = child.next
        if blocks >= 2:
            return True
    return False


def _owner(cell: LexborNode) -> int | None:
    """The ``mem_id`` of the table a cell belongs to."""
    up = cell.parent
    while up is not None and up.tag != "table":
        up = up.parent
    return up.mem_id if up is not None else None
