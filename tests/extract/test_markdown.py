"""The Markdown helpers' text passes: code blocks found, marks taken out."""

from __future__ import annotations

import random
import re

from scrape_api_docs.extract.markdown import mark, outside_fences, take_marks

# What a fenced block is, written as the one regular expression it used to be found with
# (tried at every character: too slow for a book, kept here as the definition).
FENCED = re.compile(r"^([ \t]*)```[^\n]*\n.*?^\1```[ \t]*$", re.M | re.S)


def _by_definition(markdown: str) -> str:
    out, position = [], 0
    for block in FENCED.finditer(markdown):
        out += [markdown[position : block.start()].upper(), block.group(0)]
        position = block.end()
    return "".join([*out, markdown[position:].upper()])


def test_code_blocks_are_found_as_the_definition_says() -> None:
    """Prose is transformed (upper-cased here), code blocks are not, on 50,000 random
    texts of fences (indented, with a language, unclosed, four backticks, backticks in
    a line) and prose."""
    rng = random.Random(5)
    pieces = ["```", "```py", "  ```", "\t```", "x", " ", "\n", "\n\n", "````", "a```b", "``` "]
    for _ in range(50_000):
        markdown = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert outside_fences(markdown, str.upper) == _by_definition(markdown), repr(markdown)


def test_a_fence_closes_only_at_its_own_indent() -> None:
    markdown = "a\n  ```py\n  x\n```\n  ```\nb\n"
    assert outside_fences(markdown, str.upper) == "A\n  ```py\n  x\n```\n  ```\nB\n"


def test_marks_are_taken_out_with_their_places() -> None:
    """A mark inside a line is where its element's text begins; a line of marks alone is
    a block of its own: it goes with its blank line, its place is the next block's."""
    text = f"# Title{mark(0)}\n\n{mark(1)}{mark(2)}\n\npara {mark(3)}word\n{mark(4)}"
    clean, places = take_marks(text, 5)
    assert clean == "# Title\n\npara word\n"
    assert places == [7, 9, 9, 14, 19]
