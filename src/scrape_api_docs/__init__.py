"""scrape-api-docs: turn any documentation website into clean, portable documentation."""

__version__ = "0.1.0"
