"""Crawling: scope, frontier, politeness, network policy, fetching and the crawl loop."""
