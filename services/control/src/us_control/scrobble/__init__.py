"""Scrobbling: the server's own listens delivered to ListenBrainz-compatible receivers, exactly once.

- ``tokens`` seals receivers' tokens at rest; ``receiver_url`` decides where requests may go;
  ``listenbrainz`` speaks the submission API and says what each answer means;
  ``listen_payload`` is a listen in ListenBrainz's JSON.
- ``outbox`` is what playback calls (a counted listen, a track that starts): rows written in the
  same transaction; ``sender`` relays them (one sender per target, across hosts).
- ``service``/``repository``/``schemas`` back ``/scrobble/targets``; ``listens_cli`` is
  ``usctl listens export|import``.

Decisions and their reasons: docs/SCROBBLING.md.
"""
