// Browsing a big library beyond its albums and songs: album artists (A–Z by sort name, "The"
// ignored: the server sorts), genres, recently added albums, and the pages of one artist and
// one genre. Lists of any size are windowed (VirtualList) like the other sections.

import { catalog } from './catalog.js';
import { h } from './dom.js';
import { showError } from './errors.js';
import { backButton, plural, rowLayout, SectionView } from './library-view.js';
import { routeTo } from './router.js';
import { albumCard, gridLayout } from './rows.js';
import { VirtualList } from './virtual-list.js';

/** A link row of a list: name on top, a count under it. */
function linkRow(href, name, sub, testid, data = {}) {
  return h(
    'div',
    { class: 'row link-row', role: 'listitem', dataset: { testid, ...data } },
    h('a', { class: 'row-main row-link', href }, h('span', { class: 'row-title' }, h('span', { class: 'row-title-text' }, name)), h('span', { class: 'row-sub' }, sub)),
  );
}

/** @param {import('./app.js').App} _app */
export function artistsSection(_app) {
  return new SectionView({
    name: 'artists',
    title: 'Artists',
    unit: 'artist',
    list: new VirtualList({
      label: 'Artists',
      testid: 'artist-list',
      empty: 'No artists yet.',
      load: (offset, limit) => catalog.artists({ offset, limit }),
      renderItem: (artist) =>
        linkRow(routeTo.artist(artist.artist_uuid), artist.name, plural(artist.album_count, 'album'), 'artist-row', { artistUuid: artist.artist_uuid, name: artist.name }),
      layout: rowLayout,
    }),
  });
}

/** @param {import('./app.js').App} _app */
export function genresSection(_app) {
  return new SectionView({
    name: 'genres',
    title: 'Genres',
    unit: 'genre',
    list: new VirtualList({
      label: 'Genres',
      testid: 'genre-list',
      empty: 'No genres: the files carry no genre tag.',
      load: (offset, limit) => catalog.genres({ offset, limit }),
      renderItem: (genre) =>
        linkRow(routeTo.genre(genre.name), genre.name, `${plural(genre.album_count, 'album')} · ${plural(genre.track_count, 'song')}`, 'genre-row', { name: genre.name }),
      layout: rowLayout,
    }),
  });
}

/** @param {import('./app.js').App} app */
export function recentSection(app) {
  return new SectionView({
    name: 'recent',
    title: 'Recently added',
    unit: 'album',
    list: new VirtualList({
      label: 'Recently added albums',
      testid: 'recent-list',
      empty: 'Nothing added yet.',
      load: (offset, limit) => catalog.albums({ sort: 'added', offset, limit }),
      renderItem: (album) => albumCard(app, album),
      layout: (width) => gridLayout(width),
      pageSize: 60,
    }),
  });
}

/** One album artist: name, album count, their albums as covers (by year). */
export class ArtistPage {
  /** @param {import('./app.js').App} app */
  constructor(app, artistUuid) {
    this.app = app;
    this.title = 'Artist';
    this.body = h('div', { class: 'artist-page-body' }, h('p', { class: 'empty' }, 'Loading…'));
    this.el = h('section', { class: 'view artist-page', 'aria-label': 'Artist', dataset: { testid: 'artist-detail', artistUuid } }, backButton(app), this.body);
    this.load(artistUuid);
  }

  show() {}

  async load(artistUuid) {
    let artist;
    try {
      artist = await catalog.artist(artistUuid);
    } catch (err) {
      this.body.replaceChildren(h('p', { class: 'empty' }, 'This artist could not be loaded.'));
      showError(err, 'open the artist');
      return;
    }
    this.title = artist.name;
    document.title = `${artist.name} · US Playback`;
    const albums = artist.albums || [];
    this.body.replaceChildren(
      h(
        'header',
        { class: 'view-head' },
        h('p', { class: 'eyebrow' }, 'Artist'),
        h('h1', { class: 'view-title', dataset: { testid: 'artist-name' } }, artist.name),
        h('p', { class: 'view-count muted' }, plural(artist.album_count ?? albums.length, 'album')),
      ),
      h('div', { class: 'album-grid', dataset: { testid: 'artist-albums' } }, albums.map((album) => albumCard(this.app, album, { sub: album.year ? String(album.year) : '' }))),
    );
  }
}

/** One genre: its albums as a windowed cover grid. */
export class GenrePage {
  /** @param {import('./app.js').App} appRef */
  constructor(appRef, genre) {
    this.title = genre;
    this.list = new VirtualList({
      label: `${genre} albums`,
      testid: 'genre-albums',
      empty: 'No albums in this genre.',
      load: (offset, limit) => catalog.albums({ genre, offset, limit }),
      renderItem: (album) => albumCard(appRef, album),
      layout: (width) => gridLayout(width),
      pageSize: 60,
    });
    const count = h('p', { class: 'view-count muted', dataset: { testid: 'view-count' } });
    this.list.onTotal = (total) => {
      count.textContent = plural(total, 'album');
    };
    this.el = h(
      'section',
      { class: 'view genre-page', 'aria-label': `Genre ${genre}`, dataset: { testid: 'genre-detail', name: genre } },
      backButton(appRef),
      h('header', { class: 'view-head' }, h('p', { class: 'eyebrow' }, 'Genre'), h('h1', { class: 'view-title' }, genre), count),
      this.list.el,
    );
  }

  show() {
    this.list.shown();
    document.title = `${this.title} · US Playback`;
  }

  destroy() {
    this.list.destroy();
  }
}
