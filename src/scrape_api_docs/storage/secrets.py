"""Secrets at rest: Fernet (AES-128-CBC + HMAC) with key rotation.

Keys come from settings (comma-separated, newest first, so old records still decrypt
after a rotation) or are generated once into ``<data_dir>/secret.key`` with mode 0600.
A wrong key is an error, never plaintext.
"""

from __future__ import annotations

import json
import os
import stat
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
        fernets = []
        for position, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode()))
            except (ValueError, TypeError):
                # Never the key itself in the message: it is the secret.
                raise SecretsError(
                    f"SCRAPER_ENCRYPTION_KEY: key {position} of {len(keys)} is not a valid "
                    "Fernet key (32 url-safe base64 bytes; make one with "
                    "'python -c \"from cryptography.fernet import Fernet; "
                    "print(Fernet.generate_key().decode())\"')"
                ) from None
        self._fernet = MultiFernet(fernets)

    @classmethod
    def from_settings(cls, encryption_key: str | None, data_dir: Path) -> Cipher:
        if encryption_key:
            keys = [k.strip() for k in encryption_key.split(",") if k.strip()]
            if not keys:
                raise SecretsError("SCRAPER_ENCRYPTION_KEY is set but holds no key")
            return cls(keys)
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
        """The same secret re-encrypted with the newest key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretsError(
                "stored secret cannot be decrypted with the configured key(s); "
                "add the old key after the new one in SCRAPER_ENCRYPTION_KEY"
            ) from exc


def load_or_create_key_file(path: Path) -> str:
    """The key in ``path``, created (mode 0600, atomically) when missing. An existing file
    readable by others is tightened to 0600; an empty or invalid one is a clear error."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _read_key_file(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def _read_key_file(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)
    key = path.read_text().strip()
    try:
        Fernet(key.encode())
    except ValueError:
        raise SecretsError(
            f"key file {path} does not hold a valid Fernet key; restore it from a backup "
            "(records encrypted with it cannot be read otherwise)",
            details={"path": str(path)},
        ) from None
    return key
