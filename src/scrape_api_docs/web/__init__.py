"""The dashboard: static HTML, CSS and a small script, served by the API at ``/``."""
