"""The catalog: libraries under the music root, artists, albums, tracks, grants, covers, scans.

Browsing and searching: ``folding`` (what is compared), ``search`` (ranked queries),
``repository`` (every other query; ``accessible_tracks``, ``album_tracks_for_user``,
``track_public``, ``scan_status`` for other domains), ``service`` (as one user), ``schemas``.
Scanning: ``walk``, ``tags``, ``reader`` (worker processes), ``covers``, ``scanner``,
``scan_repository``, ``progress``, ``watcher``, ``cli``, ``paths``.

The decisions (matching, ranking, totals, sort names, covers, scans, the watcher) are written
in docs/CATALOG.md.
"""
