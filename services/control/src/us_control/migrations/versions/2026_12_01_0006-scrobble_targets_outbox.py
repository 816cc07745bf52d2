"""scrobble targets, outbox (us_control.scrobble; docs/SCROBBLING.md)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('scrobble_target',
    sa.Column('target_uuid', sa.Uuid(), nullable=False),
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('base_url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('token_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('token_generation', sa.Integer(), nullable=False),
    sa.Column('receiver_user', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('condition', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('last_delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered', sa.BigInteger(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("condition IN ('ok','failing','token_refused')", name=op.f('ck_scrobble_target_condition')),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_scrobble_target_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('target_uuid', name=op.f('pk_scrobble_target')),
    sa.UniqueConstraint('user_uuid', 'base_url', name='uq_scrobble_target_user_base_url')
    )
    op.create_index(op.f('ix_scrobble_target_user_uuid'), 'scrobble_target', ['user_uuid'], unique=False)
    op.create_table('scrobble_now_playing',
    sa.Column('target_uuid', sa.Uuid(), nullable=False),
    sa.Column('track_metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['target_uuid'], ['scrobble_target.target_uuid'], name=op.f('fk_scrobble_now_playing_target_uuid_scrobble_target'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('target_uuid', name=op.f('pk_scrobble_now_playing'))
    )
    op.create_table('scrobble_outbox',
    sa.Column('entry_uuid', sa.Uuid(), nullable=False),
    sa.Column('target_uuid', sa.Uuid(), nullable=False),
    sa.Column('listen_uuid', sa.Uuid(), nullable=False),
    sa.Column('listened_at', sa.BigInteger(), nullable=False),
    sa.Column('track_metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('maybe_sent', sa.Boolean(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('refused_reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("state IN ('pending','refused')", name=op.f('ck_scrobble_outbox_state')),
    sa.ForeignKeyConstraint(['listen_uuid'], ['listen.listen_uuid'], name=op.f('fk_scrobble_outbox_listen_uuid_listen'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_uuid'], ['scrobble_target.target_uuid'], name=op.f('fk_scrobble_outbox_target_uuid_scrobble_target'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('entry_uuid', name=op.f('pk_scrobble_outbox')),
    sa.UniqueConstraint('target_uuid', 'listen_uuid', name='uq_scrobble_outbox_target_listen')
    )
    op.create_index(op.f('ix_scrobble_outbox_listen_uuid'), 'scrobble_outbox', ['listen_uuid'], unique=False)
    op.create_index('ix_scrobble_outbox_pending', 'scrobble_outbox', ['target_uuid', 'listened_at'], unique=False, postgresql_where="state = 'pending'")


def downgrade() -> None:
    op.drop_index('ix_scrobble_outbox_pending', table_name='scrobble_outbox', postgresql_where="state = 'pending'")
    op.drop_index(op.f('ix_scrobble_outbox_listen_uuid'), table_name='scrobble_outbox')
    op.drop_table('scrobble_outbox')
    op.drop_table('scrobble_now_playing')
    op.drop_index(op.f('ix_scrobble_target_user_uuid'), table_name='scrobble_target')
    op.drop_table('scrobble_target')
