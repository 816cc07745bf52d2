"""speaker truth: when a device said it was leaving; the session's most recent failed item

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('device', sa.Column('left_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('session_state', sa.Column('last_failure', postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column('session_state', 'last_failure')
    op.drop_column('device', 'left_at')
