// Hash routes → views. One view is shown at a time in #views; the browser's back and forward
// buttons work, and a reload comes back to the same place (nginx only serves "/", so the route
// lives in the fragment). Top-level views (a library section, the queue, search) are kept once
// made, with their scroll position; pages of one album, artist or genre are made per visit
// (the last few are kept, so "back" is instant).
//
//   #/library/<section>  albums | artists | songs | genres | liked | recent
//   #/album/<uuid>  #/artist/<uuid>  #/genre/<name>
//   #/search?q=…   #/queue   #/settings (scrobbling)
//   #/pair?code=…  "Add a speaker" (also reached as /pair?code=…, the address a speaker shows)
//   #/now          the full-screen now-playing view, over whatever view was shown

import { $ } from './dom.js';

export const DEFAULT_ROUTE = '#/library/albums';
const KEEP_PAGES = 6;

/** "#/album/1234?x=1" → {name: 'album', arg: '1234', query: URLSearchParams} */
export function parseRoute(hash) {
  const raw = (hash || '').replace(/^#\/?/, '');
  const [path, search = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const query = new URLSearchParams(search);
  if (parts[0] === 'library') return { name: parts[1] || 'albums', arg: null, query, section: true };
  return { name: parts[0] || '', arg: parts[1] ?? null, query, section: false };
}

export const routeTo = {
  album: (uuid) => `#/album/${encodeURIComponent(uuid)}`,
  artist: (uuid) => `#/artist/${encodeURIComponent(uuid)}`,
  genre: (name) => `#/genre/${encodeURIComponent(name)}`,
  search: (q) => (q ? `#/search?q=${encodeURIComponent(q)}` : '#/search'),
  section: (name) => `#/library/${name}`,
};

export class Router {
  /**
   * @param {import('./app.js').App} app
   * @param {Record<string, {make: (route) => object, keyed?: boolean}>} table
   *   `make` builds a view {el, show(route), hide(), title}; `keyed` views are made per `arg`.
   */
  constructor(app, table) {
    this.app = app;
    this.table = table;
    this.views = new Map(); // key → view
    this.current = null; // {key, view}
    this.lastLibrary = DEFAULT_ROUTE;
    this.scroll = new Map(); // key → scrollY when left
    this.navigations = 0; // hash changes seen since the app started ("back" stays inside the app)
  }

  start() {
    // The pairing address (RFC 8628 verification_uri) is a path: nginx serves this page there.
    if (location.pathname === '/pair') history.replaceState(null, '', `/#/pair${location.search}`);
    this.app.listen(window, 'hashchange', () => {
      this.navigations += 1;
      this.show();
    });
    this.show();
  }

  go(hash, { replace = false } = {}) {
    if (location.hash === hash) return;
    if (replace) history.replaceState(history.state, '', hash);
    else location.hash = hash;
    if (replace) this.show();
  }

  /** Back if we came from inside the app, else to `fallback`. */
  back(fallback = this.lastLibrary) {
    if (this.navigations > 0) history.back();
    else this.go(fallback, { replace: true });
  }

  show() {
    let route = parseRoute(location.hash);
    const expanded = route.name === 'now';
    this.app.nowPlaying.setExpanded(expanded);
    if (expanded) {
      this.markNavigation(route);
      // The full-screen player covers the last view; without one, the library is under it.
      if (this.current) return;
      route = parseRoute(DEFAULT_ROUTE);
    }
    if (!this.table[route.name]) {
      this.go(DEFAULT_ROUTE, { replace: true });
      return;
    }
    const spec = this.table[route.name];
    const key = spec.keyed ? `${route.name}:${route.arg}` : route.name;
    if (this.current && this.current.key !== key) {
      this.scroll.set(this.current.key, window.scrollY);
      this.current.view.hide?.();
      this.current.view.el.hidden = true;
    }
    let view = this.views.get(key);
    if (!view) {
      view = spec.make(route);
      view.el.dataset.view = route.name;
      $('views').append(view.el);
      this.views.set(key, view);
      this.evictPages();
    } else {
      // Most recently used last (the eviction order).
      this.views.delete(key);
      this.views.set(key, view);
    }
    const changed = this.current?.key !== key;
    this.current = { key, view, route };
    view.el.hidden = false;
    const root = $('app');
    root.dataset.view = route.name;
    if (route.section) this.lastLibrary = location.hash || DEFAULT_ROUTE;
    if (!expanded) this.markNavigation(route);
    view.show(route);
    document.title = view.title ? `${view.title} · US Playback` : 'US Playback';
    if (changed) {
      window.scrollTo(0, this.scroll.get(key) ?? 0);
      // Move focus for screen readers and keyboards, unless the person is typing (search).
      if (!(document.activeElement instanceof HTMLInputElement)) $('main').focus({ preventScroll: true });
    }
  }

  evictPages() {
    const pages = [...this.views.entries()].filter(([key]) => key.includes(':'));
    for (const [key, view] of pages.slice(0, Math.max(0, pages.length - KEEP_PAGES))) {
      view.destroy?.();
      view.el.remove();
      this.views.delete(key);
      this.scroll.delete(key);
    }
  }

  markNavigation(route) {
    const inLibrary = route.section || ['album', 'artist', 'genre'].includes(route.name);
    for (const link of document.querySelectorAll('[data-nav]')) {
      const nav = link.dataset.nav;
      const here = nav === route.name || (nav === 'library' && inLibrary);
      if (here) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    // "Library" in the bottom bar goes back to the section last shown.
    const library = document.querySelector('.bottom-link[data-nav=library]');
    if (library) library.setAttribute('href', this.lastLibrary);
  }
}
