"""API keys: made on the command line, shown once, stored as SHA-256 only.

The rules (README, "Keys"):

* The server is keyless while no key is on record; revoked keys stay on record, so
  revoking the last key (say, a leaked one) locks the API instead of opening it.
* ``keys delete`` removes a revoked key for good. Once no key is left the server is
  keyless again: it answers without a key, but only clients on loopback, so deleting the
  last key never opens a public server. The other way back is ``keys create``.
* What is made without a key (jobs, credentials, conversions) belongs to the keyless
  owner. The first key created takes it over; a deleted key's things go back to the
  keyless owner. Nothing is ever left without an owner who can reach it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.db import make_engine, migrate, sessions
from scrape_api_docs.storage.repositories import (
    KeyRepository,
    now,
    reassign_owner,
    rotate_secrets,
)
from scrape_api_docs.storage.secrets import Cipher
from scrape_api_docs.storage.tables import ApiKey

LOCAL_OWNER = "local"
"""The owner of what is made while the server is keyless."""


def hash_key(key: str) -> str:
    """What is stored of a key, and what a presented key is looked up by."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    key_id: str
    name: str
    key: str
    webhook_secret: str


def _engine(settings: Settings) -> AsyncEngine:
    """The service's database; the data folder is made first (the default SQLite file
    lives there, and a fresh install may not have it yet)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.effective_database_url)


async def create_key(settings: Settings, name: str) -> NewKey:
    key = "sda_" + secrets.token_urlsafe(32)
    webhook_secret = "whsec_" + secrets.token_urlsafe(24)
    cipher = Cipher.from_settings(settings.encryption_key, settings.data_dir)
    record = ApiKey(
        id="key_" + secrets.token_hex(6),
        name=name,
        key_hash=hash_key(key),
        webhook_secret_enc=cipher.encrypt(webhook_secret),
        created_at=now(),
        revoked_at=None,
    )
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            keys = KeyRepository(session)
            first = await keys.count() == 0
            keys.add(record)
            if first:  # what was made without a key stays reachable, now with this one
                await reassign_owner(session, LOCAL_OWNER, record.id)
    finally:
        await engine.dispose()
    return NewKey(record.id, name, key, webhook_secret)


async def list_keys(settings: Settings) -> list[ApiKey]:
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session:
            return list(await KeyRepository(session).all())
    finally:
        await engine.dispose()


async def revoke_key(settings: Settings, key_id: str) -> bool:
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            record = await KeyRepository(session).get(key_id)
            if record is None:
                return False
            if record.revoked_at is None:  # revoking twice keeps the first date
                record.revoked_at = now()
            return True
    finally:
        await engine.dispose()


class KeyStillActive(Exception):
    """``keys delete`` of a key not revoked yet."""


async def delete_key(settings: Settings, key_id: str) -> tuple[bool, int]:
    """Remove a revoked key for good: (found, how many jobs went back to the keyless owner,
    together with its credentials and conversions). Raises KeyStillActive for a key in
    use: revoke it first, so a delete never cuts off a client by surprise."""
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            keys = KeyRepository(session)
            record = await keys.get(key_id)
            if record is None:
                return False, 0
            if record.revoked_at is None:
                raise KeyStillActive(key_id)
            moved = await reassign_owner(session, key_id, LOCAL_OWNER)
            await keys.delete(key_id)
            return True, moved
    finally:
        await engine.dispose()


async def keys_on_record(settings: Settings) -> int:
    """Keys on record, revoked included (0: the server is keyless)."""
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session:
            return await KeyRepository(session).count()
    finally:
        await engine.dispose()


async def active_keys(settings: Settings) -> int:
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session:
            return await KeyRepository(session).active_count()
    finally:
        await engine.dispose()


async def reencrypt(settings: Settings) -> int:
    """Rewrite every stored secret with the newest key (the first of
    ``SCRAPER_ENCRYPTION_KEY``), so older keys can then be dropped from the setting.
    Returns how many values were rewritten; a value no configured key can read is an
    error (SecretsError) and nothing is written."""
    cipher = Cipher.from_settings(settings.encryption_key, settings.data_dir)
    engine = _engine(settings)
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            count = await rotate_secrets(session, cipher.rotate)
    finally:
        await engine.dispose()
    return count
