"""track: an index on (album_uuid, sort_key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01

Without it every per-album read of tracks scanned the whole table: the end of a scan of a
200,000-track library (first track and cover source of each of 17,000 albums) ran for minutes,
and an album's page read every track. A plain index: the database owner may create it; no
extension. Backward compatible (the previous release simply uses it too).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_track_album_sort', 'track', ['album_uuid', 'sort_key'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_track_album_sort', table_name='track')
