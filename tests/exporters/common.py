"""What the exporter tests share: the sphinx_classic fixture's chapter titles, in reading order."""

SPHINX_TITLES = [
    "Quillstore — a small persistent key-value store",
    "Introduction",
    "Tutorial",
    "quillstore — Persistent key-value storage",
    "Frequently asked questions",
]
