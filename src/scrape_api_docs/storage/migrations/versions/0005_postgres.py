"""Scale-out on PostgreSQL, one schema for both databases:

- ``jobs.queue_ref`` / ``conversions.queue_ref``: the queue library's id of the work (on
  PostgreSQL procrastinate's job id; unused by the embedded queue);
- ``pages``: every job's crawled documents, for the PostgreSQL page store (the embedded
  one keeps a SQLite file per job; the table stays empty there);
- on PostgreSQL only: job numbers from a sequence (``job_numbers``, not max+1: two API
  replicas never hand out one number), and procrastinate's own schema (its tables and
  functions, applied once here: a later procrastinate schema change is a later revision).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scrape_api_docs.storage.postgres import apply_procrastinate_schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("queue_ref", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("conversions") as batch_op:
        batch_op.add_column(sa.Column("queue_ref", sa.BigInteger(), nullable=True))
    op.create_table(
        "pages",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_index("ux_pages_job_key", "pages", ["job_id", "key"], unique=True)
    op.create_index("ix_pages_job_seq", "pages", ["job_id", "seq"])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE job_numbers")
        op.execute("SELECT setval('job_numbers', max(seq)) FROM jobs HAVING max(seq) IS NOT NULL")
        apply_procrastinate_schema(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS job_numbers")
        # procrastinate's schema stays: other applications may share it
    op.drop_index("ix_pages_job_seq", table_name="pages")
    op.drop_index("ux_pages_job_key", table_name="pages")
    op.drop_table("pages")
    with op.batch_alter_table("conversions") as batch_op:
        batch_op.drop_column("queue_ref")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("queue_ref")
