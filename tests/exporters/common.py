"""What the exporter tests share: the sphinx_classic fixture's chapter titles in reading
order, and a hostile site (markup in titles, scripts, event handlers, javascript: links, also
entity-encoded, a ``data:text/html`` image, a scripted SVG, an image that is not there) that every format must show as text."""

from pathlib import Path

SPHINX_TITLES = [
    "Quillstore — a small persistent key-value store",
    "Introduction",
    "Tutorial",
    "quillstore — Persistent key-value storage",
    "Frequently asked questions",
]

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)
SCRIPTED_SVG = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(9)</script></svg>'
HOSTILE_TITLE = "<script>alert(1)</script>"
HOSTILE_INDEX = """<!DOCTYPE html>
<html><head><title>&lt;script&gt;alert(1)&lt;/script&gt;</title></head>
<body><main>
<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>
<p>Before the script.<script>window.pwned = 1; alert(2)</script> After the script.</p>
<p><img src="missing.png" onerror="alert(3)" alt="broken"> <img src="logo.png" alt="Logo">
<img src="scripted.svg" alt="scripted diagram">
<img src="http://169.254.169.254/latest/meta-data/iam.png" alt="refused picture"></p>
<p><a href="javascript:alert(4)">click me</a> and <a href="2nd.html#nowhere"
 onclick="alert(5)">page two</a>, <a href="#gone">a lost fragment</a>,
 <a href="notes.txt">a file that is not a page</a>,
 <a href="https://example.org/r5rs.html#%_sec_6.2">a stray percent</a>.</p>
<p style="color:red" onmouseover="alert(6)">Styled &lt;b&gt;text&lt;/b&gt; with onerror= in it.</p>
<p><a href="javascript&colon;alert(10)">encoded link</a>,
 <a href="JaVa&#x53;cript:alert(11)">mixed case</a>,
 <img src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxMik8L3NjcmlwdD4=" alt="html image">,
 and text that spells [a link](javascript:alert(13)).</p>
<iframe src="javascript:alert(7)"></iframe>
<svg><script>alert(8)</script></svg>
</main></body></html>
"""
HOSTILE_PAGE2 = """<!DOCTYPE html>
<html><head><title>Page two</title></head>
<body><main><h1>Page two</h1><h2 id="1-usage">1 Usage</h2><p>Back to
<a href="index.html">the start</a> or <a href="#1-usage">this section</a>.</p>
</main></body></html>
"""


def write_hostile_site(folder: Path) -> Path:
    """The hostile site in ``folder``: index.html, 2nd.html, a PNG, a scripted SVG and a
    file that is not a page. Returns ``folder``."""
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(HOSTILE_INDEX)
    (folder / "2nd.html").write_text(HOSTILE_PAGE2)
    (folder / "logo.png").write_bytes(PNG)
    (folder / "scripted.svg").write_text(SCRIPTED_SVG)
    (folder / "notes.txt").write_text("notes")
    return folder
