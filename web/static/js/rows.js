// The rows and cards every list draws: a song row (play now, play next, add to the queue) and
// an album card (open, play, play next, add). One builder each, so a song behaves the same in
// the library, an album, search, liked songs and the queue's history.

import { routeTo } from './router.js';
import { formatTime, h, iconButton, trackSub } from './dom.js';
import { icons } from './icons.js';

/** The large size of a cover (null when there is none). */
export const largeCover = (url) => (url ? `${url}${url.includes('?') ? '&' : '?'}size=large` : null);

/** A cover <img> (lazy) over a lettered tile; the tile stays when there is no cover. */
export function coverArt(url, title, className = 'art') {
  const tile = h('span', { class: `${className} art-tile`, 'aria-hidden': 'true', dataset: { letter: (title || '?').trim().charAt(0).toUpperCase() || '?' } });
  if (!url) return tile;
  const img = h('img', { alt: '', loading: 'lazy', decoding: 'async', src: url, width: 300, height: 300 });
  img.addEventListener('load', () => tile.classList.add('has-img'));
  img.addEventListener('error', () => img.remove());
  tile.append(img);
  return tile;
}

/**
 * @param {import('./app.js').App} app
 * @param {object} track
 * @param {{number?: number|null, tag?: string, sub?: string, art?: boolean}} options
 */
export function trackRow(app, track, { number = null, tag = 'li', sub = null, art = false } = {}) {
  const commands = app.commands;
  const title = track.title;
  const unavailable = track.available === false;
  let lead;
  if (art) lead = coverArt(track.cover_url, track.album || title, 'row-art');
  else lead = h('span', { class: 'row-num' }, number === null ? h('span', { class: 'row-icon', html: icons.note }) : String(number));
  return h(
    tag,
    {
      class: `row track-row${unavailable ? ' is-unavailable' : ''}`,
      dataset: { testid: 'track-row', trackUuid: track.track_uuid, title },
    },
    lead,
    h(
      'button',
      {
        class: 'row-main',
        type: 'button',
        title: unavailable ? `${title} (file missing)` : `Play ${title}`,
        'aria-label': `Play ${title}`,
        dataset: { testid: 'track-play' },
        disabled: unavailable,
        onclick: () => commands.playTrack(track),
      },
      h('span', { class: 'row-title' }, h('span', { class: 'row-title-text' }, title), track.liked ? h('span', { class: 'liked-dot', title: 'Liked', html: icons.heartFilled }) : null),
      h('span', { class: 'row-sub' }, sub ?? trackSub(track)),
    ),
    h('span', { class: 'row-dur' }, formatTime(track.duration_ms)),
    h(
      'span',
      { class: 'row-actions' },
      iconButton(icons.playNext, `Play ${title} next`, 'track-next', () => commands.enqueue({ track_uuids: [track.track_uuid], position: 'next' }, `“${title}” plays next`), { disabled: unavailable }),
      iconButton(icons.plus, `Add ${title} to the queue`, 'track-add', () => commands.enqueue({ track_uuids: [track.track_uuid], position: 'end' }, `“${title}” added to the queue`), { disabled: unavailable }),
    ),
  );
}

/** Play / play next / add buttons of an album (on its card and its page). */
export function albumActions(app, album, { big = false } = {}) {
  const commands = app.commands;
  const title = album.title;
  const play = big
    ? h('button', { class: 'btn btn-primary', type: 'button', dataset: { testid: 'album-play' }, onclick: () => commands.playAlbum(album) }, h('span', { html: icons.play }), 'Play')
    : iconButton(icons.play, `Play ${title}`, 'album-play', () => commands.playAlbum(album), { class: 'icon-btn icon-btn-sm album-play' });
  return h(
    'span',
    { class: 'row-actions album-actions' },
    play,
    iconButton(icons.playNext, `Play ${title} next`, 'album-next', () => commands.enqueue({ album_uuid: album.album_uuid, position: 'next' }, `“${title}” plays next`)),
    iconButton(icons.plus, `Add ${title} to the queue`, 'album-add', () => commands.enqueue({ album_uuid: album.album_uuid, position: 'end' }, `“${title}” added to the queue`)),
  );
}

/** An album in a grid: cover, title, artist · year; opens its page. */
export function albumCard(app, album, { tag = 'div', sub = null } = {}) {
  const subtitle = sub ?? [album.artist, album.year].filter(Boolean).join(' · ');
  return h(
    tag,
    { class: 'album-card', dataset: { testid: 'album-row', albumUuid: album.album_uuid, title: album.title } },
    h(
      'a',
      { class: 'album-open', href: routeTo.album(album.album_uuid), dataset: { testid: 'album-open' } },
      coverArt(album.cover_url, album.title, 'album-art'),
      h('span', { class: 'album-title' }, album.title),
      h('span', { class: 'album-sub' }, subtitle),
    ),
    albumActions(app, album),
  );
}

/** Layout of a cover grid at `width`: as many ≥ minCell columns as fit, square covers + text. */
export function gridLayout(width, minCell = 168, gap = 16, textHeight = 58) {
  const columns = Math.max(2, Math.floor((width + gap) / (minCell + gap)));
  const cell = (width - gap * (columns - 1)) / columns;
  return { columns, rowHeight: Math.round(cell + textHeight + gap), gap };
}
