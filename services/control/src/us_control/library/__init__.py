"""The catalog: libraries under the music root, albums, tracks, grants, scanning."""
