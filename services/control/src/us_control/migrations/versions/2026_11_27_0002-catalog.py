"""catalog

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('library',
    sa.Column('library_uuid', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('rel_root', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_scan_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('library_uuid', name=op.f('pk_library')),
    sa.UniqueConstraint('name', name=op.f('uq_library_name')),
    sa.UniqueConstraint('rel_root', name=op.f('uq_library_rel_root'))
    )
    op.create_table('library_grant',
    sa.Column('user_uuid', sa.Uuid(), nullable=False),
    sa.Column('library_uuid', sa.Uuid(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['library_uuid'], ['library.library_uuid'], name=op.f('fk_library_grant_library_uuid_library'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_uuid'], ['appuser.user_uuid'], name=op.f('fk_library_grant_user_uuid_appuser'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('user_uuid', 'library_uuid', name=op.f('pk_library_grant'))
    )
    op.create_table('album',
    sa.Column('album_uuid', sa.Uuid(), nullable=False),
    sa.Column('library_uuid', sa.Uuid(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('artist', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['library_uuid'], ['library.library_uuid'], name=op.f('fk_album_library_uuid_library'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('album_uuid', name=op.f('pk_album')),
    sa.UniqueConstraint('library_uuid', 'artist', 'title', name='uq_album_identity')
    )
    op.create_index(op.f('ix_album_library_uuid'), 'album', ['library_uuid'], unique=False)
    op.create_table('track',
    sa.Column('track_uuid', sa.Uuid(), nullable=False),
    sa.Column('library_uuid', sa.Uuid(), nullable=False),
    sa.Column('album_uuid', sa.Uuid(), nullable=True),
    sa.Column('rel_path', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('mtime_ns', sa.BigInteger(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('artist', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('album_title', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('album_artist', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('track_number', sa.Integer(), nullable=True),
    sa.Column('disc_number', sa.Integer(), nullable=True),
    sa.Column('has_cover', sa.Boolean(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['album_uuid'], ['album.album_uuid'], name=op.f('fk_track_album_uuid_album'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['library_uuid'], ['library.library_uuid'], name=op.f('fk_track_library_uuid_library'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('track_uuid', name=op.f('pk_track')),
    sa.UniqueConstraint('rel_path', name='uq_track_rel_path')
    )
    op.create_index(op.f('ix_track_album_uuid'), 'track', ['album_uuid'], unique=False)
    op.create_index(op.f('ix_track_library_uuid'), 'track', ['library_uuid'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_track_album_uuid'), table_name='track')
    op.drop_index(op.f('ix_track_library_uuid'), table_name='track')
    op.drop_table('track')
    op.drop_index(op.f('ix_album_library_uuid'), table_name='album')
    op.drop_table('album')
    op.drop_table('library_grant')
    op.drop_table('library')
