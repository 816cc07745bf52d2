"""devices, session, queue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device',
    sa.Column('device_uuid', sa.Uuid(), nullable=False),
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('device_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('device_platform', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('last_seen', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_device_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_uuid', name=op.f('pk_device'))
    )
    op.create_index(op.f('ix_device_user_uuid'), 'device', ['user_uuid'], unique=False)
    op.create_table('applied_event',
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('client_event_uuid', sa.Uuid(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_applied_event_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_uuid', 'client_event_uuid', name=op.f('pk_applied_event'))
    )
    op.create_table('queue_item',
    sa.Column('item_uuid', sa.Uuid(), nullable=False),
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('idx', sa.Integer(), nullable=False),
    sa.Column('shuffle_idx', sa.Integer(), nullable=True),
    sa.Column('track_uuid', sa.Uuid(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('queued','playing','played','failed')", name=op.f('ck_queue_item_status')),
    sa.ForeignKeyConstraint(['track_uuid'], ['track.track_uuid'], name=op.f('fk_queue_item_track_uuid_track'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_queue_item_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_uuid', name=op.f('pk_queue_item'))
    )
    op.create_index(op.f('ix_queue_item_track_uuid'), 'queue_item', ['track_uuid'], unique=False)
    op.create_index('ix_queue_item_user_idx', 'queue_item', ['user_uuid', 'idx'], unique=False)
    op.create_table('session_state',
    sa.Column('session_uuid', sa.Uuid(), nullable=False),
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('active_device_uuid', sa.Uuid(), nullable=True),
    sa.Column('current_item_uuid', sa.Uuid(), nullable=True),
    sa.Column('track_uuid', sa.Uuid(), nullable=True),
    sa.Column('position_ms', sa.BigInteger(), nullable=False),
    sa.Column('play_state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_update_ms', sa.BigInteger(), nullable=False),
    sa.Column('revision', sa.BigInteger(), nullable=False),
    sa.Column('shuffle', sa.Boolean(), nullable=False),
    sa.Column('repeat_mode', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('volume_percent', sa.Integer(), nullable=False),
    sa.Column('media_epoch', sa.Integer(), nullable=False),
    sa.Column('listened_ms', sa.BigInteger(), nullable=False),
    sa.Column('listen_recorded', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("play_state IN ('playing','paused','stopped')", name=op.f('ck_session_state_play_state')),
    sa.CheckConstraint("repeat_mode IN ('off','one','all')", name=op.f('ck_session_state_repeat_mode')),
    sa.CheckConstraint('position_ms >= 0', name=op.f('ck_session_state_position_ms')),
    sa.CheckConstraint('volume_percent BETWEEN 0 AND 100', name=op.f('ck_session_state_volume_percent')),
    sa.ForeignKeyConstraint(['active_device_uuid'], ['device.device_uuid'], name=op.f('fk_session_state_active_device_uuid_device'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['current_item_uuid'], ['queue_item.item_uuid'], name=op.f('fk_session_state_current_item_uuid_queue_item'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['track_uuid'], ['track.track_uuid'], name=op.f('fk_session_state_track_uuid_track'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_session_state_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('session_uuid', name=op.f('pk_session_state')),
    sa.UniqueConstraint('user_uuid', name=op.f('uq_session_state_user_uuid'))
    )
    op.create_index(op.f('ix_session_state_active_device_uuid'), 'session_state', ['active_device_uuid'], unique=False)
    op.create_index(op.f('ix_session_state_current_item_uuid'), 'session_state', ['current_item_uuid'], unique=False)
    op.create_index(op.f('ix_session_state_track_uuid'), 'session_state', ['track_uuid'], unique=False)
    # ### end Alembic commands ###


def downgrade() -> None:
    op.drop_index(op.f('ix_session_state_active_device_uuid'), table_name='session_state')
    op.drop_index(op.f('ix_session_state_current_item_uuid'), table_name='session_state')
    op.drop_index(op.f('ix_session_state_track_uuid'), table_name='session_state')
    op.drop_table('session_state')
    op.drop_index(op.f('ix_queue_item_track_uuid'), table_name='queue_item')
    op.drop_index('ix_queue_item_user_idx', table_name='queue_item')
    op.drop_table('queue_item')
    op.drop_table('applied_event')
    op.drop_index(op.f('ix_device_user_uuid'), table_name='device')
    op.drop_table('device')
