// The library: its sections (albums as a cover grid, all songs, liked songs) as windowed lists
// of any size, and an album's page (tracks by disc). On a phone the sections are chips at the
// top (there is no side bar).

import { catalog } from './catalog.js';
import { h } from './dom.js';
import { showError } from './errors.js';
import { icons } from './icons.js';
import { routeTo } from './router.js';
import { albumActions, albumCard, coverArt, gridLayout, largeCover, trackRow } from './rows.js';
import { VirtualList } from './virtual-list.js';

export const SECTIONS = [
  ['albums', 'Albums'],
  ['artists', 'Artists'],
  ['songs', 'Songs'],
  ['genres', 'Genres'],
  ['recent', 'Recently added'],
  ['liked', 'Liked songs'],
];

const ROW_HEIGHT = 60;
export const rowLayout = () => ({ columns: 1, rowHeight: ROW_HEIGHT });
export const plural = (n, one, many = `${one}s`) => `${n.toLocaleString()} ${n === 1 ? one : many}`;

/** The section chips (phone) with the current one marked. */
export function sectionChips(current) {
  return h(
    'nav',
    { class: 'chips', 'aria-label': 'Library sections' },
    SECTIONS.map(([name, label]) =>
      h('a', { class: 'chip', href: routeTo.section(name), 'aria-current': name === current ? 'page' : false, dataset: { testid: `chip-${name}` } }, label),
    ),
  );
}

export function viewHeader(title, ...extra) {
  const count = h('p', { class: 'view-count muted', dataset: { testid: 'view-count' } });
  return { count, el: h('header', { class: 'view-head' }, h('div', { class: 'view-title-row' }, h('h1', { class: 'view-title' }, title), ...extra), count) };
}

/** A library section drawn by a VirtualList (albums grid, songs, liked songs). */
export class SectionView {
  constructor({ name, title, list, unit, extra = [] }) {
    this.title = title;
    const head = viewHeader(title, ...extra);
    this.count = head.count;
    this.unit = unit;
    this.list = list;
    this.list.onTotal = (total) => {
      this.count.textContent = plural(total, unit);
    };
    this.el = h('section', { class: 'view', 'aria-label': title }, sectionChips(name), head.el, list.el);
  }

  show() {
    this.list.shown();
  }

  destroy() {
    this.list.destroy();
  }
}

const ALBUM_SORTS = [
  ['name', 'Title'],
  ['artist', 'Artist'],
  ['year', 'Year'],
  ['added', 'Recently added'],
];

/** The albums as a cover grid, sorted as the person chose (kept on this device). */
/** @param {import('./app.js').App} app */
export function albumsSection(app) {
  let sort = localStorage.getItem('us.albumSort') || 'name';
  if (!ALBUM_SORTS.some(([value]) => value === sort)) sort = 'name';
  const list = new VirtualList({
    label: 'Albums',
    testid: 'album-list',
    empty: 'No albums yet. Scan a music folder with “usctl library scan”.',
    load: (offset, limit) => catalog.albums({ sort, offset, limit }),
    renderItem: (album) => albumCard(app, album),
    layout: (width) => gridLayout(width),
    pageSize: 60,
  });
  const select = h(
    'select',
    {
      class: 'sort-select',
      'aria-label': 'Sort albums by',
      dataset: { testid: 'album-sort' },
      onchange: (event) => {
        sort = event.target.value;
        localStorage.setItem('us.albumSort', sort);
        list.reset();
      },
    },
    ALBUM_SORTS.map(([value, label]) => h('option', { value, selected: value === sort }, label)),
  );
  return new SectionView({ name: 'albums', title: 'Albums', unit: 'album', list, extra: [select] });
}

/** @param {import('./app.js').App} app */
export function songsSection(app) {
  return new SectionView({
    name: 'songs',
    title: 'Songs',
    unit: 'song',
    list: new VirtualList({
      label: 'Songs',
      testid: 'track-list',
      empty: 'No songs yet.',
      load: (offset, limit) => catalog.tracks({ offset, limit }),
      renderItem: (track) => trackRow(app, track, { tag: 'div', art: true }),
      layout: rowLayout,
    }),
  });
}

/** @param {import('./app.js').App} app */
export function likedSection(app) {
  const view = new SectionView({
    name: 'liked',
    title: 'Liked songs',
    unit: 'song',
    list: new VirtualList({
      label: 'Liked songs',
      testid: 'liked-list',
      empty: 'Songs you like (♥) show up here.',
      load: (offset, limit) => catalog.likes({ offset, limit }),
      renderItem: (track) => trackRow(app, track, { tag: 'div', art: true }),
      layout: rowLayout,
    }),
  });
  // A like anywhere (this device or another) changes the list: reload when next shown.
  view.stale = false;
  view.onLike = () => {
    if (view.el.hidden) view.stale = true;
    else view.list.reset();
  };
  const show = view.show.bind(view);
  view.show = () => {
    if (view.stale) {
      view.stale = false;
      view.list.reset();
    }
    show();
  };
  return view;
}

/** One album: cover, title, artist, year, actions; its songs by disc. */
export class AlbumPage {
  /** @param {import('./app.js').App} app */
  constructor(app, albumUuid) {
    this.app = app;
    this.albumUuid = albumUuid;
    this.title = 'Album';
    this.body = h('div', { class: 'album-page-body' }, h('p', { class: 'empty' }, 'Loading…'));
    this.el = h('section', { class: 'view album-page', 'aria-label': 'Album', dataset: { testid: 'album-detail', albumUuid } }, backButton(app), this.body);
    this.load();
  }

  show() {}

  async load() {
    try {
      this.album = await catalog.album(this.albumUuid);
    } catch (err) {
      this.body.replaceChildren(h('p', { class: 'empty' }, 'This album could not be loaded.'));
      showError(err, 'open the album');
      return;
    }
    this.render();
  }

  render() {
    const { app, album } = this;
    this.title = album.title;
    document.title = `${album.title} · US Playback`;
    const tracks = album.tracks || [];
    const cover = largeCover(album.cover_url);
    const artist = album.artist_uuid
      ? h('a', { href: routeTo.artist(album.artist_uuid), class: 'link', dataset: { testid: 'album-artist-link' } }, album.artist)
      : h('span', {}, album.artist);
    const minutes = Math.round(tracks.reduce((sum, t) => sum + (t.duration_ms || 0), 0) / 60000);
    const facts = [album.year, plural(album.track_count ?? tracks.length, 'song'), minutes ? `${minutes} min` : null, album.genre].filter(Boolean).join(' · ');
    this.body.replaceChildren(
      h(
        'header',
        { class: 'album-head' },
        coverArt(cover, album.title, 'album-head-art'),
        h(
          'div',
          { class: 'album-head-text' },
          h('p', { class: 'eyebrow' }, 'Album'),
          h('h1', { class: 'album-head-title', dataset: { testid: 'album-title' } }, album.title),
          h('p', { class: 'album-head-sub' }, artist),
          h('p', { class: 'muted' }, facts),
          albumActions(app, album, { big: true }),
        ),
      ),
      ...discLists(app, tracks),
    );
  }
}

/** One list per disc, headed "Disc N" when the album has more than one. */
function discLists(app, tracks) {
  const discs = [...new Set(tracks.map((t) => t.disc_number ?? 1))];
  const list = (items) => h('ol', { class: 'rows', dataset: { testid: 'album-tracks' } }, items.map((t, i) => trackRow(app, t, { number: t.track_number ?? i + 1, sub: t.artist })));
  if (discs.length < 2) return [list(tracks)];
  return discs.flatMap((disc) => [h('h2', { class: 'disc-title' }, `Disc ${disc}`), list(tracks.filter((t) => (t.disc_number ?? 1) === disc))]);
}

/** "‹ Back" to wherever the person came from inside the app. */
export function backButton(app) {
  return h('button', { class: 'btn btn-ghost btn-sm back', type: 'button', dataset: { testid: 'back' }, onclick: () => app.router.back() }, h('span', { html: icons.back }), 'Back');
}
