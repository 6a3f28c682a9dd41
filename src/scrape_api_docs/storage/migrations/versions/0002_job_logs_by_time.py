"""Job logs indexed by (job_id, timestamp, id): a job poll reads its newest 50 lines
straight from the index instead of sorting up to ``job_log_limit`` rows.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_job_logs_job_time", "job_logs", ["job_id", "timestamp", "id"])


def downgrade() -> None:
    op.drop_index("ix_job_logs_job_time", table_name="job_logs")
