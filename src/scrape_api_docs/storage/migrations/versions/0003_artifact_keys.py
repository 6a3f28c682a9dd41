"""Artifacts record the artifact store's key (``<job_id>/<filename>``), not a local path:
the files can live wherever the artifact store keeps them.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch_op:
        batch_op.add_column(sa.Column("key", sa.Text(), nullable=True))
    # Every stored path was <data_dir>/jobs/<job_id>/<filename>: the key says the same.
    op.execute("UPDATE artifacts SET key = job_id || '/' || filename")
    with op.batch_alter_table("artifacts") as batch_op:
        batch_op.alter_column("key", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("path")


def downgrade() -> None:
    with op.batch_alter_table("artifacts") as batch_op:
        batch_op.add_column(sa.Column("path", sa.Text(), nullable=True))
    op.execute("UPDATE artifacts SET path = key")  # relative to <data_dir>/jobs
    with op.batch_alter_table("artifacts") as batch_op:
        batch_op.alter_column("path", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("key")
