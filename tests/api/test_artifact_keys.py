"""The database records artifact store keys, not paths: a database written before (with
absolute paths) is migrated at start-up, and its exports are still served; deleting a
job removes its files through the stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from scrape_api_docs.storage.db import MIGRATIONS
from tests.api.test_exports import FAST, completed_job


def downgrade_to_paths(db: Path) -> None:
    """The database as the service before the artifact store left it: revision 0002,
    each artifact with the absolute path of its file."""
    engine = create_engine(f"sqlite:///{db}")
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    engine.dispose()
    jobs = db.parent / "jobs"
    with sqlite3.connect(db) as con:
        con.execute("UPDATE artifacts SET path = ? || '/' || path", (str(jobs.resolve()),))


async def test_old_rows_get_keys_and_still_download(api: Any, site_server: Any) -> None:
    site = site_server("sphinx_classic")
    async with api(**FAST) as (app, client):
        job = await completed_job(client, site.url("/index.html"))
        data = app.state.ctx.settings.data_dir
        body = (await client.get(job["exports"][0]["url"])).content
    db = data / "scraper.db"
    downgrade_to_paths(db)
    with sqlite3.connect(db) as con:
        [(path,)] = con.execute("SELECT path FROM artifacts").fetchall()
    assert path == str((data / "jobs" / job["job_id"] / "output.md").resolve())

    async with api(**FAST) as (_, client):
        with sqlite3.connect(db) as con:
            columns = [row[1] for row in con.execute("PRAGMA table_info(artifacts)")]
            keys = con.execute("SELECT key FROM artifacts").fetchall()
        assert "path" not in columns
        assert keys == [(f"{job['job_id']}/output.md",)]
        again = await client.get(job["exports"][0]["url"])
        assert again.status_code == 200 and again.content == body
        assert (await client.delete(f"/api/v1/jobs/{job['job_id']}")).status_code == 200
        assert not (data / "jobs" / job["job_id"]).exists()
