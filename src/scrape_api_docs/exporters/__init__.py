"""Exporters: build documents (Markdown book, ...) from a crawl's stored pages."""
