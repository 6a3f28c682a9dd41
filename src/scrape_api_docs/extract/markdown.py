"""Clean content HTML to Markdown: one converter for every path (static, rendered, exports)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from html_to_markdown import ConversionOptions, convert

_OPTIONS = ConversionOptions(
    heading_style="atx",
    bullets="-",
    list_indent_width=2,
    escape_asterisks=True,
    code_block_style="backticks",
    extract_metadata=False,
    autolinks=True,
    hidden_content="reachable",
    wrap=False,
    newline_style="backslash",
)
_FENCED = re.compile(r"^([ \t]*)```[^\n]*\n.*?^\1```[ \t]*$", re.M | re.S)


def to_markdown(content_html: str, base_url: str) -> str:
    """Convert; relative ``href``/``src`` become absolute against ``base_url``.

    html-to-markdown runs in Rust and releases the GIL, so callers convert pages on a
    thread pool.
    """
    options = _with_base(base_url)
    text = convert(content_html, options).content or ""
    return tidy(text)


def _with_base(base_url: str) -> ConversionOptions:
    return replace(_OPTIONS, base_url=base_url)


def outside_fences(markdown: str, transform: Callable[[str], str]) -> str:
    """Apply ``transform`` to the prose between fenced code blocks; code stays verbatim."""
    pieces: list[str] = []
    position = 0
    for match in _FENCED.finditer(markdown):
        pieces.append(transform(markdown[position : match.start()]))
        pieces.append(match.group(0))
        position = match.end()
    pieces.append(transform(markdown[position:]))
    return "".join(pieces)


def tidy(markdown: str) -> str:
    """Blocks get their blank lines, runs of blank lines shrink; code blocks stay verbatim."""
    pieces: list[str] = []
    position = 0
    for match in _FENCED.finditer(markdown):
        prose = _tidy_prose(markdown[position : match.start()])
        if prose:
            pieces.append(prose)
        pieces.append(match.group(0))
        position = match.end()
    prose = _tidy_prose(markdown[position:])
    if prose:
        pieces.append(prose)
    return "\n\n".join(pieces) + "\n"


def _tidy_prose(text: str) -> str:
    # Plain string operations: the regex equivalents cost ~10 ms on a large page.
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if line.startswith(">") and out and out[-1] and not out[-1].startswith(">"):
            out.append("")
        out.append(line)
    text = "\n".join(out)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip("\n")
