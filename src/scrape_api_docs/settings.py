"""Settings: one pydantic-settings class, read once at start-up and passed down.

Every setting is an environment variable prefixed ``SCRAPER_`` and may also come from a
``.env`` file in the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCRAPER_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path("data")
    """Where the database, page cache, artifacts and key file live."""

    allow_private_networks: bool = False
    """Let the crawler reach loopback and private addresses (tests, intranet docs)."""

    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Host names or CIDR networks exempt from the private-address check (comma-separated)."""

    user_agent: str = "scrape-api-docs/0.1"
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(default=10, ge=0, le=20)
    extract_processes: int = Field(default=0, ge=0, le=64)
    """Processes that extract and convert pages; 0 = one per CPU (at most 4)."""

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"
