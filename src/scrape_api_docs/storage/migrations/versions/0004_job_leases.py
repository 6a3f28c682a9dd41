"""Jobs carry a lease: the worker holding a running job (``worker_id``), until when
(``lease_expires_at``, extended by its heartbeats), and a stored cancel request
(``cancel_requested``) that the worker sees wherever it runs. Conversions are queued work
too: the same lease, and the attempts that bound their retries.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("worker_id", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("cancel_requested", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("conversions") as batch_op:
        batch_op.add_column(sa.Column("worker_id", sa.String(length=120), nullable=True))
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("conversions") as batch_op:
        batch_op.drop_column("attempts")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("worker_id")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("cancel_requested")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("worker_id")
