// Search as you type: the top bar's field drives `#/search?q=…` (replacing the history entry,
// so "back" leaves search instead of stepping through every letter); results come grouped —
// artists, albums, songs — and "all N songs" opens a windowed list of every match. Answers that
// arrive after a newer query was typed are dropped.

import { catalog } from './catalog.js';
import { $, debounce, h } from './dom.js';
import { showError } from './errors.js';
import { routeTo } from './router.js';
import { albumCard, coverArt, trackRow } from './rows.js';
import { VirtualList } from './virtual-list.js';

const TYPE_DELAY_MS = 150;
const GROUP_LIMIT = 6;

export class SearchView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.title = 'Search';
    this.q = null;
    this.seq = 0;
    this.all = null; // the windowed list of every matching song, when asked for
    this.results = h('div', { class: 'search-results', dataset: { testid: 'search-results' }, 'aria-live': 'polite' });
    this.el = h('section', { class: 'view search-view', 'aria-label': 'Search' }, h('h1', { class: 'view-title sr-only' }, 'Search'), this.results);
  }

  /** The top bar's field: typing goes to #/search?q=… from anywhere. */
  static bindField(app) {
    const input = $('search-input');
    const go = debounce(() => {
      const q = input.value.trim();
      app.router.go(routeTo.search(q), { replace: parseRouteName() === 'search' });
    }, TYPE_DELAY_MS);
    app.listen(input, 'input', go);
    app.listen($('search-form'), 'submit', (e) => {
      e.preventDefault();
      app.router.go(routeTo.search(input.value.trim()), { replace: parseRouteName() === 'search' });
    });
    app.listen(input, 'keydown', (e) => {
      if (e.key === 'Escape') {
        input.value = '';
        input.blur();
        if (parseRouteName() === 'search') app.router.back();
      }
    });
  }

  show(route) {
    const q = (route.query.get('q') || '').slice(0, 200);
    const input = $('search-input');
    if (document.activeElement !== input && input.value.trim() !== q) input.value = q;
    if (q === this.q) return;
    this.q = q;
    this.run(q);
  }

  hide() {
    this.all?.destroy();
    this.all = null;
  }

  async run(q) {
    const seq = ++this.seq;
    this.all?.destroy();
    this.all = null;
    if (!q) {
      this.results.replaceChildren(h('p', { class: 'empty search-hint' }, 'Find artists, albums and songs. Every word counts; the last may be the start of one.'));
      return;
    }
    let groups;
    try {
      groups = await searchGroups(q);
    } catch (err) {
      if (seq === this.seq) {
        this.results.replaceChildren(h('p', { class: 'empty' }, 'Search is not available right now.'));
        showError(err, 'search');
      }
      return;
    }
    if (seq !== this.seq) return;
    this.render(q, groups);
  }

  render(q, { artists, albums, tracks }) {
    const { app } = this;
    const sections = [];
    if (artists?.items.length) {
      sections.push(
        group('Artists', 'search-artists',
          h('div', { class: 'artist-strip' }, artists.items.map((artist) =>
            h('a', { class: 'artist-card', href: routeTo.artist(artist.artist_uuid), dataset: { testid: 'artist-row', artistUuid: artist.artist_uuid } },
              coverArt(artist.cover_url, artist.name, 'artist-art'),
              h('span', { class: 'artist-name' }, artist.name),
              h('span', { class: 'artist-sub muted' }, artist.album_count === 1 ? '1 album' : `${artist.album_count} albums`),
            ))),
        ),
      );
    }
    if (albums?.items.length) {
      sections.push(group('Albums', 'search-albums', h('div', { class: 'album-strip' }, albums.items.map((album) => albumCard(app, album)))));
    }
    if (tracks?.items.length) {
      const more = tracks.total > tracks.items.length
        ? h('button', { class: 'btn btn-ghost btn-sm', type: 'button', dataset: { testid: 'search-all-tracks' }, onclick: () => this.showAllTracks(q, tracks.total, moreSlot) }, `All ${tracks.total.toLocaleString()} songs`)
        : null;
      const moreSlot = h('div', { class: 'search-all' });
      sections.push(group('Songs', 'search-tracks', h('ol', { class: 'rows' }, tracks.items.map((t) => trackRow(app, t, { art: true }))), more, moreSlot));
    }
    if (!sections.length) sections.push(h('p', { class: 'empty', dataset: { testid: 'search-empty' } }, `Nothing matches “${q}”.`));
    this.results.replaceChildren(...sections);
  }

  showAllTracks(q, total, slot) {
    this.all?.destroy();
    this.all = new VirtualList({
      label: `Songs matching ${q}`,
      testid: 'search-track-list',
      load: (offset, limit) => catalog.tracks({ q, offset, limit }),
      renderItem: (track) => trackRow(this.app, track, { tag: 'div', art: true }),
      layout: () => ({ columns: 1, rowHeight: 60 }),
    });
    slot.replaceChildren(h('h2', { class: 'group-title' }, `All songs (${total.toLocaleString()})`), this.all.el);
    slot.previousElementSibling?.remove(); // the "All N songs" button
    this.all.shown();
  }
}

function group(title, testid, ...children) {
  return h('section', { class: 'search-group', dataset: { testid } }, h('h2', { class: 'group-title' }, title), ...children);
}

function parseRouteName() {
  return (location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] || '');
}

/** Grouped search (GET /search); a server without it answers albums and songs from their lists. */
async function searchGroups(q) {
  try {
    return await catalog.search(q, GROUP_LIMIT);
  } catch (err) {
    if (err?.status !== 404) throw err;
  }
  const [albums, tracks] = await Promise.all([catalog.albums({ q, limit: GROUP_LIMIT }), catalog.tracks({ q, limit: GROUP_LIMIT })]);
  return { artists: null, albums, tracks };
}
