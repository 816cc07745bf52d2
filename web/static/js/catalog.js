// The catalog API as the views use it (DESIGN.md "Search and browse"): pages of songs, albums,
// artists, genres and liked songs, one album or artist, grouped search. Every list answers
// {items, total}; `cover_url` on albums and songs is an opaque relative URL (null: no cover).

import { api } from './api.js';

const qs = (params) => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
};

export const catalog = {
  tracks: ({ q = '', offset = 0, limit = 100 } = {}) => api.get(`/tracks${qs({ q, offset, limit })}`),
  albums: ({ q = '', sort, genre, year, offset = 0, limit = 100 } = {}) => api.get(`/albums${qs({ q, sort, genre, year, offset, limit })}`),
  album: (uuid) => api.get(`/albums/${encodeURIComponent(uuid)}`),
  artists: ({ q = '', offset = 0, limit = 100 } = {}) => api.get(`/artists${qs({ q, offset, limit })}`),
  artist: (uuid) => api.get(`/artists/${encodeURIComponent(uuid)}`),
  genres: ({ offset = 0, limit = 200 } = {}) => api.get(`/genres${qs({ offset, limit })}`),
  likes: ({ offset = 0, limit = 100 } = {}) => api.get(`/likes${qs({ offset, limit })}`),
  listens: ({ offset = 0, limit = 20 } = {}) => api.get(`/listens${qs({ offset, limit })}`),
  search: (q, limit = 6) => api.get(`/search${qs({ q, limit })}`),
};
