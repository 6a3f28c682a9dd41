"""Jobs: one runner for every entry point (CLI now; the API's sync and queued jobs later)."""
