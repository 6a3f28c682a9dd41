"""The ``checklist`` marker: which cases of the security checklist
(shared/design/security-checklist.md) a test covers, e.g. ``@pytest.mark.checklist(2, 3)``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pytest

MARKER = "checklist"


@dataclass(frozen=True)
class Collected:
    """What a session collected, before any deselection (``-k``, ``-m``)."""

    files: frozenset[str]
    marks: dict[str, list[object]]


COLLECTED = pytest.StashKey[Collected]()


def cases_of(item: pytest.Item) -> list[object]:
    """Every case number the item's ``checklist`` markers name (module, class, function)."""
    return [case for mark in item.iter_markers(MARKER) for case in mark.args]


def marks(items: Iterable[pytest.Item]) -> dict[str, list[object]]:
    """Test id -> the cases it covers, for the marked items only."""
    found: dict[str, list[object]] = {}
    for item in items:
        cases = cases_of(item)
        if cases:
            found[item.nodeid] = cases
    return found


def collected(items: Iterable[pytest.Item]) -> Collected:
    items = list(items)
    files = frozenset(item.nodeid.split("::", 1)[0] for item in items)
    return Collected(files, marks(items))
