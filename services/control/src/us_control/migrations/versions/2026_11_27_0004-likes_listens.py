"""likes, listens

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('track_like',
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('track_uuid', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['track_uuid'], ['track.track_uuid'], name=op.f('fk_track_like_track_uuid_track'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_track_like_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_uuid', 'track_uuid', name=op.f('pk_track_like'))
    )
    op.create_table('listen',
    sa.Column('listen_uuid', sa.Uuid(), nullable=False),
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('track_uuid', sa.Uuid(), nullable=False),
    sa.Column('played_ms', sa.BigInteger(), nullable=False),
    sa.Column('listened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['track_uuid'], ['track.track_uuid'], name=op.f('fk_listen_track_uuid_track'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_listen_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('listen_uuid', name=op.f('pk_listen'))
    )
    op.create_index(op.f('ix_listen_track_uuid'), 'listen', ['track_uuid'], unique=False)
    op.create_index('ix_listen_user_listened_at', 'listen', ['user_uuid', 'listened_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_listen_track_uuid'), table_name='listen')
    op.drop_index('ix_listen_user_listened_at', table_name='listen')
    op.drop_table('listen')
    op.drop_table('track_like')
