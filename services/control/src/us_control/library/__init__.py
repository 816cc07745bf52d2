"""The catalog: libraries under the music root, albums, tracks, grants, scanning.

Modules: ``paths`` (catalog path rules), ``tags`` (what a FLAC says: fallbacks, covers),
``scanner`` (``usctl library scan``), ``repository`` (every query; ``accessible_tracks``,
``album_tracks_for_user``, ``track_public`` for other domains), ``service`` (browsing as one
user), ``schemas``, ``cli``.

Decisions where DESIGN.md is silent:

- A folder belongs to one library: scanning a folder that contains, or lies inside, another
  library's folder is refused (rescan that library instead). A library is identified by its
  folder; ``--name`` on a rescan renames it, a rescan without ``--name`` keeps the name.
- A library whose folder vanished can still be rescanned: every track becomes unavailable.
- Unavailable tracks stay in lists and albums with ``available: false`` (queues point at them);
  an album disappears only when no track at all refers to it any more.
- Albums are keyed by (album artist, album title) case-insensitively; the first spelling seen
  wins. Missing tags: title from the file name (a leading "01 " becomes the track number),
  artist/album artist from each other, else "Unknown Artist"; album "Unknown Album"; disc from
  a ``CD2``/``Disc 2`` folder. Tag text is NFC-normalised, without control characters. An
  album's year is the earliest DATE among the files read by the latest scan that read any.
- Hidden entries (``.name``) are ignored; paths containing ``..`` (refused by nginx) or names
  that are not UTF-8 are skipped with a reason. Scan summary: each ``.flac`` entry found is
  exactly one of added/updated/unchanged/skipped; ``unavailable`` is the library's count of
  unavailable tracks after the scan. A scan is one transaction; one scan at a time.
- Search: ``q`` is trimmed and its inner whitespace collapsed; tracks match on title, artist,
  album and album artist, albums on title and album artist (case folding follows the
  database's LC_CTYPE; a C.UTF-8 or ICU locale folds non-ASCII letters too). Lists sort by
  album artist, album, disc, track. ``limit`` 1..200, ``q`` at most 200 characters.
- Covers: the front cover (else the first picture); ETag is a hash of the picture bytes, so
  ``If-None-Match`` answers 304.
"""
