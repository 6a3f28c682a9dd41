"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with key rotation.

Keys come from settings (comma-separated, newest first, so old records still decrypt
after a rotation) or are generated once into ``<data_dir>/secret.key`` with mode 0600.
A wrong key is an error, never plaintext.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from scrape_api_docs.errors import ScraperError


class SecretsError(ScraperError):
    code = "INTERNAL_ERROR"


class Cipher:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretsError("no encryption key configured")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as exc:
            raise SecretsError(
                "SCRAPER_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc

    @classmethod
    def from_settings(cls, encryption_key: str | None, data_dir: Path) -> Cipher:
        if encryption_key:
            return cls([k.strip() for k in encryption_key.split(",") if k.strip()])
        return cls([load_or_create_key_file(data_dir / "secret.key")])

    def encrypt(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def decrypt(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretsError(
                "stored secret cannot be decrypted with the configured key(s); "
                "add the old key after the new one in SCRAPER_ENCRYPTION_KEY"
            ) from exc

    def rotate(self, token: str) -> str:
        return self._fernet.rotate(token.encode()).decode()


def load_or_create_key_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
