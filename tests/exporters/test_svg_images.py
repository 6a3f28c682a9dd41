"""Which SVG images the exports keep: self-contained ones, without their DOCTYPE."""

from __future__ import annotations

import pytest

from scrape_api_docs.exporters.resources import self_contained_svg

NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
REFUSED = {
    "script": f"<svg {NS}><script>alert(1)</script></svg>",
    "event handler": f'<svg {NS}><rect width="1" height="1" onclick="alert(1)"/></svg>',
    "foreign object": f"<svg {NS}><foreignObject><p>html</p></foreignObject></svg>",
    "external link": f'<svg {NS}><image xlink:href="http://evil.test/x.png"/></svg>',
    "css url": f'<svg {NS}><rect style="fill: url(http://evil.test/p.svg)"/></svg>',
    "css import": f"<svg {NS}><style>@import 'http://evil.test/a.css';</style></svg>",
    "entity": (
        '<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<svg {NS}><text>&x;</text></svg>"
    ),
    "not svg": "<html><body>no</body></html>",
    "not xml": f"<svg {NS}><rect></svg>",
}


@pytest.mark.parametrize("name", sorted(REFUSED))
@pytest.mark.checklist(23)
def test_svgs_that_run_or_reach_out_are_refused(name: str) -> None:
    assert self_contained_svg(REFUSED[name].encode()) is None


def test_a_plain_svg_is_kept_without_its_doctype() -> None:
    body = (
        '<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        '"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">'
        f'<svg {NS}><defs><linearGradient id="g"/></defs>'
        '<rect width="4" height="4" fill="url(#g)"/><use xlink:href="#g"/></svg>'
    )
    kept = self_contained_svg(body.encode())
    assert kept is not None and b"DOCTYPE" not in kept and b'fill="url(#g)"' in kept
