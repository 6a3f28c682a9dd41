"""API keys: made on the command line, shown once, stored as SHA-256 only."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from scrape_api_docs.api.dependencies import hash_key
from scrape_api_docs.settings import Settings
from scrape_api_docs.storage.db import make_engine, migrate, sessions
from scrape_api_docs.storage.repositories import KeyRepository, now
from scrape_api_docs.storage.secrets import Cipher
from scrape_api_docs.storage.tables import ApiKey, Credential, Job


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
            KeyRepository(session).add(record)
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
    count = 0
    try:
        await migrate(engine)
        async with sessions(engine)() as session, session.begin():
            for key in (await session.execute(select(ApiKey))).scalars():
                if key.webhook_secret_enc:
                    key.webhook_secret_enc = cipher.rotate(key.webhook_secret_enc)
                    count += 1
            for credential in (await session.execute(select(Credential))).scalars():
                credential.ciphertext = cipher.rotate(credential.ciphertext)
                count += 1
            for job in (await session.execute(select(Job))).scalars():
                if job.auth_enc:
                    job.auth_enc = cipher.rotate(job.auth_enc)
                    count += 1
                if job.webhook_secret_enc:
                    job.webhook_secret_enc = cipher.rotate(job.webhook_secret_enc)
                    count += 1
    finally:
        await engine.dispose()
    return count
