"""participants.revoked_ms: a revoked link stops working, its participant stays in the log

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: code from before this revision keeps working beside it (expand first).
    with op.batch_alter_table("participants") as batch:
        batch.add_column(sa.Column("revoked_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("participants") as batch:
        batch.drop_column("revoked_ms")
