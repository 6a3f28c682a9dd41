"""The quality scorer on hand-made pages whose right scores can be counted by hand."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FIXTURE_SITES
from tests.quality.score import Score, Truth, score_page

CORPUS = FIXTURE_SITES.parent / "corpus"

PAGE = """<!doctype html><html><head><title>Install - Acme</title>
<style>.x { color: red }</style></head><body>
<nav class="top"><a href="/">Home</a> | <a href="/toc">Contents</a> | <a href="/mod">Modules</a></nav>
<main>
  <h1>Install Acme<a class="headerlink" href="#install">¶</a></h1>
  <p>Run the installer once on every build host.</p>
  <pre><code>pip install acme</code></pre>
  <table><tr><th>Flag</th><th>Meaning</th></tr><tr><td>quiet</td><td>less output</td></tr></table>
  <a class="edit" href="/edit">Edit on GitHub</a>
</main>
<footer>Last update: 2026-05-28</footer>
<script>var hidden = "never visible";</script>
</body></html>"""

TRUTH = Truth(main="main", title="Install Acme", exclude=("a.headerlink", "a.edit"))

PERFECT = """# Install Acme

Run the installer once on every build host.

```bash
pip install acme
```

| Flag | Meaning |
| --- | --- |
| quiet | less output |
"""


def test_a_perfect_extraction_scores_one() -> None:
    score = score_page(PAGE, TRUTH, PERFECT, "Install Acme")
    assert (score.precision, score.recall, score.f1) == (1.0, 1.0, 1.0)
    assert score.nav_leak == 0.0
    assert (score.code_kept, score.code_truth) == (1, 1)
    assert (score.tables_kept, score.tables_truth) == (1, 1)
    assert score.titles_right == 1


def test_main_tokens_skip_scripts_styles_and_excluded_parts() -> None:
    score = score_page(PAGE, TRUTH, PERFECT, "Install Acme")
    # install acme / run the installer once on every build host / pip install acme /
    # flag meaning quiet less output
    assert score.truth == 2 + 8 + 3 + 5
    # Home Contents Modules (3), Edit on GitHub (3), Last update 2026 05 28 (5); the
    # permalink glyph is no word, the script's string is not visible.
    assert score.nav == 11


def test_a_leaked_nav_bar_scores_the_leak_it_should() -> None:
    leaked = "Home | Contents | Modules\n\n" + PERFECT + "\nLast update: 2026-05-28\n"
    score = score_page(PAGE, TRUTH, leaked, "Install Acme")
    assert score.leaked == 8
    assert score.nav_leak == pytest.approx(8 / 11)
    assert score.recall == 1.0
    assert score.precision == pytest.approx(18 / 26)


def test_words_the_main_content_also_has_are_no_leak() -> None:
    # "Install" is in the nav-free main content twice; a third one is noise, not a leak.
    page = PAGE.replace("Modules</a>", "Modules</a> <a href='/i'>Install</a>")
    score = score_page(page, TRUTH, PERFECT + "\nInstall\n", "Install Acme")
    assert score.leaked == 1  # the nav has one "install" the main content lacks
    score = score_page(PAGE, TRUTH, PERFECT + "\nInstall\n", "Install Acme")
    assert score.leaked == 0
    assert score.precision == pytest.approx(18 / 19)


def test_lost_content_code_and_tables_cost_recall() -> None:
    prose_only = "# Install Acme\n\nRun the installer once on every build host.\n"
    score = score_page(PAGE, TRUTH, prose_only, "Install Acme")
    assert score.precision == 1.0
    assert score.recall == pytest.approx(10 / 18)
    assert (score.code_kept, score.tables_kept) == (0, 0)


def test_markdown_syntax_and_link_targets_are_not_words() -> None:
    linked = PERFECT.replace("build host", "[build host](https://example.org/hosts/build)")
    assert score_page(PAGE, TRUTH, linked, "Install Acme").precision == 1.0
    javadoc = PERFECT.replace(
        "build host", '[build host](https://example.org/Host.html#wait(long,int) "in java.lang")'
    )
    assert score_page(PAGE, TRUTH, javadoc, "Install Acme").precision == 1.0


def test_titles_compare_without_case_spacing_or_permalink_glyphs() -> None:
    assert score_page(PAGE, TRUTH, PERFECT, " install  ACME ¶").titles_right == 1
    wrong = score_page(PAGE, TRUTH, PERFECT, "Acme v1.2 documentation")
    assert wrong.titles_right == 0
    assert wrong.wrong_titles == [("Acme v1.2 documentation", "Install Acme")]


def test_sites_add_up_counts_not_ratios() -> None:
    good = score_page(PAGE, TRUTH, PERFECT, "Install Acme")
    lost = score_page(PAGE, TRUTH, "", "")
    site = Score().add(good).add(lost)
    assert site.pages == 2
    assert site.recall == pytest.approx(0.5)
    assert site.precision == 1.0
    assert site.titles_right == 1


def test_a_selector_that_matches_nothing_is_an_error_not_a_zero() -> None:
    with pytest.raises(ValueError, match="matches nothing"):
        score_page(PAGE, Truth(main="article", title="x"), PERFECT, "x")


@pytest.mark.parametrize("site", sorted(p.parent.name for p in CORPUS.glob("*/truth.json")))
def test_every_corpus_page_has_its_main_content_and_title(site: str) -> None:
    """The truth itself: every selector matches, every page has content and a title."""
    truth = json.loads((CORPUS / site / "truth.json").read_text())
    assert len(truth["pages"]) >= 3
    for rel, entry in truth["pages"].items():
        html = (CORPUS / site / entry.get("html", rel)).read_text(errors="replace")
        score = score_page(html, Truth.from_json(entry), "", "")
        assert entry["title"], f"{site}/{rel} has no title"
        assert score.truth >= 5, f"{site}/{rel}: main content has {score.truth} words"
