"""The authoritative session: timeline, speaker, queue navigation, shuffle, repeat, listens."""
