"""A PostgreSQL database per test module for the "postgres" parameters (skipped, saying
why, where no server answers); emptied before each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import postgres


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    with postgres.database() as url:
        postgres.migrated(url)
        yield url


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    postgres.empty(postgres_database)
    return postgres_database
