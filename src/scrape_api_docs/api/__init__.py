"""The REST API (FastAPI): thin routers over the job service."""
