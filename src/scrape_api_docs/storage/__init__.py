"""Storage: where crawled pages and artifacts live."""
