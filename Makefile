# scrape-api-docs: every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install sysdeps serve test fuzz lint bench bench-api bench-export bench-render bench-quality bench-scale clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,bench]"
	touch $(STAMP)

install: $(STAMP)

# Debian packages the tests open real files with: Chromium (JavaScript rendering, PDF; the
# headless shell is what we drive first, the full browser is the fallback some tests check)
# and epubcheck. Installed when missing and we are root; otherwise those tests say what
# to install.
SYSDEPS := chromium:/usr/bin/chromium chromium-headless-shell:/usr/bin/chromium-headless-shell \
	epubcheck:/usr/share/java/epubcheck.jar
sysdeps:
	@missing=""; for dep in $(SYSDEPS); do test -e "$${dep#*:}" || missing="$$missing $${dep%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run as root or install them)"; fi; \
	fi

serve: $(STAMP)
	$(BIN)/scrape-docs serve --host $(HOST) --port $(PORT)

test: $(STAMP) sysdeps
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 4 --dist worksteal

# Schema fuzzing of a live server (tests/api/test_schema.py): FUZZ_EXAMPLES generated
# requests per operation, each sent with a key, without one, and to a keyless server; every
# failure is collected, a summary printed, and any server error or mismatch fails the run.
# FUZZ_SEED=<n> draws other examples.
FUZZ_EXAMPLES ?= 300
FUZZ_SEED ?= 20261130
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) $(BIN)/python -m pytest -q -o timeout=0 tests/api/test_schema.py

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	@test -d /usr/share/doc/python3/html || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-doc; }
	$(BIN)/python bench/crawl.py

bench-api: $(STAMP)
	$(BIN)/python bench/api.py

bench-render: $(STAMP) sysdeps
	@test -d /usr/share/doc/python3/html || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-doc; }
	$(BIN)/python bench/render.py

bench-export: $(STAMP) sysdeps
	@test -d /usr/share/doc/python3/html || { [ "$$(id -u)" = 0 ] && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-doc; }
	$(BIN)/python bench/export.py

# Extraction quality on tests/fixtures/corpus (sites built by real generators; the corpus is
# committed, tests/fixtures/corpus/build.py regenerates it). Chromium for the client-rendered ones.
bench-quality: $(STAMP) sysdeps
	$(BIN)/python bench/quality.py

# Jobs/min and pages/s with 1, 2 and 4 worker processes over the corpus sites, embedded
# (SQLite); scaled out too with SCALE_ARGS="--database-url postgresql+asyncpg://... --redis-url redis://...".
SCALE_ARGS ?=
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
