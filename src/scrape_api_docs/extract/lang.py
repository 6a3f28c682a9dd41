"""Code-block languages from the classes and attributes docs generators put on them."""

from __future__ import annotations

import re

_CLASS_PATTERNS = (
    re.compile(r"^(?:language|lang)-([\w+#.-]+)$"),
    re.compile(r"^highlight-([\w+#.-]+)$"),  # Sphinx: div.highlight-python3
    re.compile(r"^brush:([\w+#.-]+)$"),
)
_NO_LANGUAGE = {"none", "nohighlight", "plain", "plaintext", "notranslate", "text-only"}
# Sphinx's "default" lexer is Python with a fallback; rustdoc marks Rust blocks by class.
_ALIASES = {"default": "python", "ipython3": "python", "ipython": "python"}
_BARE_LANGUAGES = {"rust", "python", "javascript", "bash", "shell", "sql", "json", "yaml", "toml"}


def language_from_classes(classes: list[str]) -> str | None:
    for cls in classes:
        for pattern in _CLASS_PATTERNS:
            match = pattern.match(cls)
            if match:
                return _normalise(match.group(1))
    return None


def language_from_attrs(attrs: dict[str, str | None], *, allow_bare: bool) -> str | None:
    """One element's hint: ``data-lang`` / ``data-language``, classes, bare names (rustdoc)."""
    for key in ("data-lang", "data-language", "lang"):
        value = attrs.get(key)
        if value and key != "lang":
            return _normalise(value)
    classes = (attrs.get("class") or "").split()
    found = language_from_classes(classes)
    if found is None and "sourceCode" in classes:  # pandoc: class="sourceCode python"
        others = [c for c in classes if c != "sourceCode"]
        found = _normalise(others[0]) if others else None
    if found is None and allow_bare:
        bare = [c for c in classes if c in _BARE_LANGUAGES]
        found = bare[0] if bare else None
    return found


def _normalise(name: str) -> str | None:
    name = name.strip().lower()
    if not name or name in _NO_LANGUAGE:
        return None
    return _ALIASES.get(name, name)
