"""Clean content HTML to Markdown: one converter for every path (static, rendered, exports)."""

from __future__ import annotations

import re
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
)
_BLANK_RUNS = re.compile(r"\n{3,}")


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


def tidy(markdown: str) -> str:
    """Fences get their own paragraphs; no runs of blank lines; one final newline."""
    lines = markdown.split("\n")
    out: list[str] = []
    in_fence = False
    for line in lines:
        is_fence = line.lstrip().startswith("```")
        opens_block = is_fence or line.startswith(">")
        after_text = bool(out) and bool(out[-1].strip()) and not out[-1].startswith(">")
        if not in_fence and opens_block and (after_text or (is_fence and out and out[-1].strip())):
            out.append("")
        out.append(line.rstrip() if not in_fence else line)
        if is_fence:
            in_fence = not in_fence
            if not in_fence:
                out.append("")
    return _BLANK_RUNS.sub("\n\n", "\n".join(out)).strip() + "\n"
