"""us-speaker: a headless speaker for UniversalScrobbler Playback (docs/SPEAKER.md)."""
