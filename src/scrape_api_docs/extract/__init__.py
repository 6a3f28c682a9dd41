"""Extraction: main content, links, code languages, reading order, Markdown."""
