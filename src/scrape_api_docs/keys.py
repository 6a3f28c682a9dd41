"""API keys: made on the command line, shown once, stored as SHA-256 only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from scrape_api_docs.api.dependencies import hash_key
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.db import make_engine, migrate, sessions
from scrape_api_docs.storage.repositories import KeyRepository, now
from scrape_api_docs.storage.secrets import Cipher
from scrape_api_docs.storage.tables import ApiKey


@dataclass(frozen=True)
class NewKey:
    key_id: str
    name: str
    key: str
    webhook_secret: str


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
    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            KeyRepository(session).add(record)
    finally:
        await engine.dispose()
    return NewKey(record.id, name, key, webhook_secret)


async def list_keys(settings: Settings) -> list[ApiKey]:
    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        async with sessions(engine)() as session:
            return list(await KeyRepository(session).all())
    finally:
        await engine.dispose()


async def revoke_key(settings: Settings, key_id: str) -> bool:
    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            record = await KeyRepository(session).get(key_id)
            if record is None:
                return False
            record.revoked_at = now()
            return True
    finally:
        await engine.dispose()


async def active_keys(settings: Settings) -> int:
    engine = make_engine(settings.effective_database_url)
    try:
        await migrate(engine)
        async with sessions(engine)() as session:
            return await KeyRepository(session).active_count()
    finally:
        await engine.dispose()
