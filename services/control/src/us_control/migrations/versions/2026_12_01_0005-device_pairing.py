"""device pairing (RFC 8628): pending authorizations and device credentials (hashed)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_authorization',
    sa.Column('authorization_uuid', sa.Uuid(), nullable=False),
    sa.Column('device_code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('user_code_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('device_uuid', sa.Uuid(), nullable=False),
    sa.Column('requested_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('client_id', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('user_uuid', sa.Uuid(), nullable=True),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('interval_s', sa.Integer(), nullable=False),
    sa.Column('expires_at_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_poll_ms', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status IN ('pending','approved','denied','used')", name=op.f('ck_device_authorization_status')),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_device_authorization_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('authorization_uuid', name=op.f('pk_device_authorization')),
    sa.UniqueConstraint('device_code_hash', name=op.f('uq_device_authorization_device_code_hash')),
    sa.UniqueConstraint('user_code_hash', name=op.f('uq_device_authorization_user_code_hash'))
    )
    op.create_index(op.f('ix_device_authorization_user_uuid'), 'device_authorization', ['user_uuid'], unique=False)
    op.create_table('device_credential',
    sa.Column('credential_uuid', sa.Uuid(), nullable=False),
    sa.Column('device_uuid', sa.Uuid(), nullable=False),
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('refresh_token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('previous_token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('rotated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['device_uuid'], ['device.device_uuid'], name=op.f('fk_device_credential_device_uuid_device'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_device_credential_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('credential_uuid', name=op.f('pk_device_credential')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_device_credential_refresh_token_hash'))
    )
    op.create_index(op.f('ix_device_credential_device_uuid'), 'device_credential', ['device_uuid'], unique=False)
    op.create_index(op.f('ix_device_credential_previous_token_hash'), 'device_credential', ['previous_token_hash'], unique=False)
    op.create_index(op.f('ix_device_credential_user_uuid'), 'device_credential', ['user_uuid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_device_credential_user_uuid'), table_name='device_credential')
    op.drop_index(op.f('ix_device_credential_previous_token_hash'), table_name='device_credential')
    op.drop_index(op.f('ix_device_credential_device_uuid'), table_name='device_credential')
    op.drop_table('device_credential')
    op.drop_index(op.f('ix_device_authorization_user_uuid'), table_name='device_authorization')
    op.drop_table('device_authorization')
