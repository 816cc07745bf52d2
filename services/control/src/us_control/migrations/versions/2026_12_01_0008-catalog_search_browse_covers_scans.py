"""catalog: search words and sort keys, artists, genres, covers, scan progress

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

No extension is needed (words and keys are folded in Python, see library/folding.py), so this
runs as the unprivileged owner of the database. Existing tracks get their new columns from the
next scan: every file is marked to be read again once (``mtime_ns = -1``), which also learns the
genres, sort names and covers that the first round did not store.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('artist',
    sa.Column('artist_uuid', sa.Uuid(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sort_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('identity', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('sort_key', sa.Text(collation='C'), server_default='', nullable=False),
    sa.Column('match_key', sa.Text(collation='C'), server_default='', nullable=False),
    sa.Column('search_words', postgresql.TSVECTOR(), server_default=sa.text("''::tsvector"), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('artist_uuid', name=op.f('pk_artist')),
    sa.UniqueConstraint('identity', name=op.f('uq_artist_identity'))
    )
    op.create_index('ix_artist_match_key', 'artist', ['match_key', 'sort_key', 'artist_uuid'], unique=False)
    op.create_index('ix_artist_search_words', 'artist', ['search_words'], unique=False, postgresql_using='gin')
    op.create_index('ix_artist_sort_key', 'artist', ['sort_key', 'artist_uuid'], unique=False)
    op.create_table('library_scan',
    sa.Column('scan_uuid', sa.Uuid(), nullable=False),
    sa.Column('library_uuid', sa.Uuid(), nullable=False),
    sa.Column('trigger', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['library_uuid'], ['library.library_uuid'], name=op.f('fk_library_scan_library_uuid_library'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('scan_uuid', name=op.f('pk_library_scan'))
    )
    op.create_index('ix_library_scan_library_started', 'library_scan', ['library_uuid', 'started_at'], unique=False)
    op.add_column('album', sa.Column('artist_uuid', sa.Uuid(), nullable=True))
    op.add_column('album', sa.Column('genre', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('album', sa.Column('track_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('album', sa.Column('cover_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('album', sa.Column('cover_source', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('album', sa.Column('sort_key', sa.Text(collation='C'), server_default='', nullable=False))
    op.add_column('album', sa.Column('name_key', sa.Text(collation='C'), server_default='', nullable=False))
    op.add_column('album', sa.Column('match_key', sa.Text(collation='C'), server_default='', nullable=False))
    op.add_column('album', sa.Column('search_words', postgresql.TSVECTOR(), server_default=sa.text("''::tsvector"), nullable=False))
    op.add_column('album', sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False))
    op.create_index(op.f('ix_album_artist_uuid'), 'album', ['artist_uuid'], unique=False)
    op.create_index(op.f('ix_album_cover_key'), 'album', ['cover_key'], unique=False)
    op.create_index('ix_album_created_at', 'album', ['created_at', 'sort_key', 'album_uuid'], unique=False)
    op.create_index('ix_album_genre', 'album', ['genre', 'sort_key', 'album_uuid'], unique=False)
    op.create_index('ix_album_match_key', 'album', ['match_key', 'sort_key', 'album_uuid'], unique=False, postgresql_include=['library_uuid'])
    op.create_index('ix_album_name_key', 'album', ['name_key', 'album_uuid'], unique=False)
    op.create_index('ix_album_search_words', 'album', ['search_words'], unique=False, postgresql_using='gin')
    op.create_index('ix_album_sort_key', 'album', ['sort_key', 'album_uuid'], unique=False, postgresql_include=['library_uuid', 'search_words', 'match_key'])
    op.create_index('ix_album_year', 'album', ['year', 'sort_key', 'album_uuid'], unique=False)
    op.create_foreign_key(op.f('fk_album_artist_uuid_artist'), 'album', 'artist', ['artist_uuid'], ['artist_uuid'], ondelete='SET NULL')
    op.add_column('library', sa.Column('track_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('library', sa.Column('album_count', sa.Integer(), server_default='0', nullable=False))
    op.add_column('track', sa.Column('year', sa.Integer(), nullable=True))
    op.add_column('track', sa.Column('genre', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('track', sa.Column('cover_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('track', sa.Column('sort_key', sa.Text(collation='C'), server_default='', nullable=False))
    op.add_column('track', sa.Column('match_key', sa.Text(collation='C'), server_default='', nullable=False))
    op.add_column('track', sa.Column('search_words', postgresql.TSVECTOR(), server_default=sa.text("''::tsvector"), nullable=False))
    op.create_index('ix_track_match_key', 'track', ['match_key', 'sort_key', 'track_uuid'], unique=False, postgresql_include=['library_uuid'])
    op.create_index('ix_track_search_words', 'track', ['search_words'], unique=False, postgresql_using='gin')
    op.create_index('ix_track_sort_key', 'track', ['sort_key', 'track_uuid'], unique=False, postgresql_include=['library_uuid', 'search_words', 'match_key'])

    # The next scan reads every file again and fills the new columns.
    op.execute("UPDATE track SET mtime_ns = -1")

def downgrade() -> None:
    op.drop_index('ix_track_sort_key', table_name='track', postgresql_include=['library_uuid', 'search_words', 'match_key'])
    op.drop_index('ix_track_search_words', table_name='track', postgresql_using='gin')
    op.drop_index('ix_track_match_key', table_name='track', postgresql_include=['library_uuid'])
    op.drop_column('track', 'search_words')
    op.drop_column('track', 'match_key')
    op.drop_column('track', 'sort_key')
    op.drop_column('track', 'cover_key')
    op.drop_column('track', 'genre')
    op.drop_column('track', 'year')
    op.drop_column('library', 'album_count')
    op.drop_column('library', 'track_count')
    op.drop_constraint(op.f('fk_album_artist_uuid_artist'), 'album', type_='foreignkey')
    op.drop_index('ix_album_year', table_name='album')
    op.drop_index('ix_album_sort_key', table_name='album', postgresql_include=['library_uuid', 'search_words', 'match_key'])
    op.drop_index('ix_album_search_words', table_name='album', postgresql_using='gin')
    op.drop_index('ix_album_name_key', table_name='album')
    op.drop_index('ix_album_match_key', table_name='album', postgresql_include=['library_uuid'])
    op.drop_index('ix_album_genre', table_name='album')
    op.drop_index('ix_album_created_at', table_name='album')
    op.drop_index(op.f('ix_album_cover_key'), table_name='album')
    op.drop_index(op.f('ix_album_artist_uuid'), table_name='album')
    op.drop_column('album', 'updated_at')
    op.drop_column('album', 'search_words')
    op.drop_column('album', 'match_key')
    op.drop_column('album', 'name_key')
    op.drop_column('album', 'sort_key')
    op.drop_column('album', 'cover_source')
    op.drop_column('album', 'cover_key')
    op.drop_column('album', 'track_count')
    op.drop_column('album', 'genre')
    op.drop_column('album', 'artist_uuid')
    op.drop_index('ix_library_scan_library_started', table_name='library_scan')
    op.drop_table('library_scan')
    op.drop_index('ix_artist_sort_key', table_name='artist')
    op.drop_index('ix_artist_search_words', table_name='artist', postgresql_using='gin')
    op.drop_index('ix_artist_match_key', table_name='artist')
    op.drop_table('artist')
