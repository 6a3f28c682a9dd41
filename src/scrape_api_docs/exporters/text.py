"""What exporters derive from a page's Markdown: plain text, code blocks, summaries."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_FENCE = re.compile(r"^([ \t]*)```([^\n`]*)\n(.*?)^\1```[ \t]*$", re.M | re.S)
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\((?:<[^>]*>|[^)\s]*)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_ANCHOR_TAG = re.compile(r"<a id=\"[^\"]*\"></a>")
_HEADING = re.compile(r"^#{1,6}\s+", re.M)
_QUOTE = re.compile(r"^>\s?", re.M)
_EMPHASIS = re.compile(r"(?<!\\)(\*\*|__|\*|`)")
_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}.*$", re.M)
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>])")
_BLANKS = re.compile(r"\n{3,}")
_SENTENCE = re.compile(r"(.{20,}?[.!?])(\s|$)")
_HEADING_LINE = re.compile(r"^#{1,6}\s.*$", re.M)


@dataclass(frozen=True)
class CodeBlock:
    language: str | None
    code: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    out = []
    for match in _FENCE.finditer(markdown):
        indent = match.group(1)
        lines = match.group(3).rstrip("\n").split("\n")
        code = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines)
        out.append(CodeBlock(match.group(2).strip() or None, code))
    return out


def plain_text(markdown: str) -> str:
    """Markdown without its markup: what a reader sees, code included as plain lines."""
    text = _FENCE.sub(lambda m: m.group(3), markdown)
    text = _ANCHOR_TAG.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _EMPHASIS.sub("", text)
    text = _ESCAPE.sub(r"\1", text)
    return _BLANKS.sub("\n\n", text).strip()


def words(text: str) -> int:
    return len(text.split())


def token_estimate(text: str) -> int:
    """About four characters a token for English text and code (no model-specific tokenizer)."""
    return (len(text) + 3) // 4


def content_hash(markdown: str) -> str:
    return "sha256:" + hashlib.sha256(markdown.encode()).hexdigest()


def summary(markdown: str, limit: int = 160) -> str:
    """The first sentence of the first paragraph that is prose (not a heading or code)."""
    prose = _HEADING_LINE.sub("", _FENCE.sub("", markdown))
    for block in plain_text(prose).split("\n\n"):
        block = " ".join(block.split())
        if len(block) < 20 or block.startswith(("Source:", "|")):
            continue
        match = _SENTENCE.match(block)
        sentence = match.group(1) if match else block
        return sentence if len(sentence) <= limit else sentence[: limit - 1].rstrip() + "…"
    return ""
