// The three lists: queue, library (browse/search, albums), devices. Each renders from data the
// app hands it and calls back into the app for commands; none keeps session state of its own.

import { api } from './api.js';
import { $, debounce, formatTime, h } from './dom.js';
import { icons } from './icons.js';

const iconButton = (icon, label, testid, onclick, extra = {}) =>
  h('button', { class: 'icon-btn icon-btn-sm', type: 'button', 'aria-label': label, title: label, html: icon, dataset: { testid }, onclick, ...extra });

const trackSub = (track) => [track.artist, track.album].filter(Boolean).join(' · ');

// --- queue ------------------------------------------------------------------------------------

export class QueueView {
  constructor(app) {
    this.app = app;
    this.page = null;
    $('queue-clear').addEventListener('click', () => app.queueCommand('DELETE', '/queue'));
  }

  render(page, snapshot) {
    if (page) this.page = page;
    const data = this.page;
    const list = $('queue-list');
    const items = data ? [...data.items].sort((a, b) => a.play_order - b.play_order) : [];
    const current = snapshot?.queue_position;
    list.replaceChildren(
      ...items.map((item, n) => {
        const isCurrent = item.idx === current;
        const row = h(
          'li',
          {
            class: `row queue-row${isCurrent ? ' is-current' : ''} status-${item.status}`,
            dataset: { testid: 'queue-item', itemUuid: item.item_uuid, trackUuid: item.track_uuid, status: item.status, current: String(isCurrent) },
            'aria-current': isCurrent ? 'true' : false,
          },
          h('span', { class: 'row-num' }, isCurrent ? h('span', { class: 'eq', 'aria-label': 'now playing' }, h('i'), h('i'), h('i')) : String(n + 1)),
          h(
            'button',
            { class: 'row-main', type: 'button', title: `Play ${item.track.title}`, dataset: { testid: 'queue-play' }, onclick: () => this.app.command('play', { item_uuid: item.item_uuid }) },
            h('span', { class: 'row-title', dataset: { testid: 'queue-title' } }, item.track.title),
            h('span', { class: 'row-sub' }, trackSub(item.track)),
          ),
          h('span', { class: 'row-dur' }, formatTime(item.track.duration_ms)),
          iconButton(icons.close, `Remove ${item.track.title} from the queue`, 'queue-remove', () =>
            this.app.queueCommand('DELETE', `/queue/items/${item.item_uuid}`),
          ),
        );
        return row;
      }),
    );
    const total = data?.total ?? 0;
    $('queue-empty').hidden = total > 0;
    $('queue-clear').hidden = total < 2;
    $('queue-count').textContent = String(total);
    const more = data && data.total > data.items.length ? ` (showing ${data.items.length})` : '';
    $('queue-summary').textContent = total ? `${total} track${total === 1 ? '' : 's'}${more}` : '';
  }
}

// --- library ----------------------------------------------------------------------------------

export class LibraryView {
  constructor(app) {
    this.app = app;
    this.query = '';
    this.album = null; // album detail being shown
    this.tracks = [];
    this.trackTotal = 0;
    this.albums = [];
    this.loaded = false;
    this.seq = 0;
    const search = $('library-search');
    const run = debounce(() => {
      this.query = search.value.trim();
      this.album = null;
      this.load();
    }, 200);
    search.addEventListener('input', run);
    search.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && search.value) {
        search.value = '';
        run();
      }
    });
  }

  ensureLoaded() {
    if (!this.loaded) this.load();
  }

  async load(more = false) {
    const seq = ++this.seq;
    const q = encodeURIComponent(this.query);
    try {
      const offset = more ? this.tracks.length : 0;
      const [tracks, albums] = await Promise.all([
        api.get(`/tracks?q=${q}&limit=50&offset=${offset}`),
        more ? Promise.resolve(null) : api.get(`/albums?q=${q}&limit=50`),
      ]);
      if (seq !== this.seq) return;
      this.tracks = more ? this.tracks.concat(tracks.items) : tracks.items;
      this.trackTotal = tracks.total;
      if (albums) this.albums = albums.items;
      this.loaded = true;
      this.render();
    } catch (err) {
      if (seq === this.seq) this.app.showError(err);
    }
  }

  async openAlbum(albumUuid) {
    try {
      this.album = await api.get(`/albums/${albumUuid}`);
      this.render();
      $('library-body').scrollTop = 0;
    } catch (err) {
      this.app.showError(err);
    }
  }

  trackRow(track, n = null) {
    return h(
      'li',
      { class: 'row track-row', dataset: { testid: 'track-row', trackUuid: track.track_uuid, title: track.title } },
      h('span', { class: 'row-num' }, n === null ? h('span', { class: 'row-icon', html: icons.note }) : String(n)),
      h(
        'button',
        { class: 'row-main', type: 'button', title: `Play ${track.title} now`, onclick: () => this.app.playTrack(track) },
        h('span', { class: 'row-title' }, track.title, track.liked ? h('span', { class: 'liked-dot', title: 'Liked', html: icons.heartFilled }) : null),
        h('span', { class: 'row-sub' }, trackSub(track)),
      ),
      h('span', { class: 'row-dur' }, formatTime(track.duration_ms)),
      h(
        'span',
        { class: 'row-actions' },
        iconButton(icons.play, `Play ${track.title} now`, 'track-play', () => this.app.playTrack(track)),
        iconButton(icons.playNext, `Play ${track.title} next`, 'track-next', () => this.app.enqueue({ track_uuids: [track.track_uuid], position: 'next' }, `“${track.title}” plays next`)),
        iconButton(icons.plus, `Add ${track.title} to the queue`, 'track-add', () => this.app.enqueue({ track_uuids: [track.track_uuid], position: 'end' }, `“${track.title}” added to the queue`)),
      ),
    );
  }

  albumActions(album) {
    return h(
      'span',
      { class: 'row-actions' },
      iconButton(icons.play, `Play ${album.title} now`, 'album-play', (e) => {
        e.stopPropagation();
        this.app.playAlbum(album);
      }),
      iconButton(icons.playNext, `Play ${album.title} next`, 'album-next', (e) => {
        e.stopPropagation();
        this.app.enqueue({ album_uuid: album.album_uuid, position: 'next' }, `“${album.title}” plays next`);
      }),
      iconButton(icons.plus, `Add ${album.title} to the queue`, 'album-add', (e) => {
        e.stopPropagation();
        this.app.enqueue({ album_uuid: album.album_uuid, position: 'end' }, `“${album.title}” added to the queue`);
      }),
    );
  }

  /** One list per disc, headed "Disc N" when the album has more than one. */
  albumTrackLists(tracks) {
    const discs = [...new Set(tracks.map((t) => t.disc_number ?? 1))];
    if (discs.length < 2) return [h('ol', { class: 'rows' }, tracks.map((t, i) => this.trackRow(t, t.track_number ?? i + 1)))];
    return discs.flatMap((disc) => [
      h('h4', { class: 'disc-title' }, `Disc ${disc}`),
      h('ol', { class: 'rows' }, tracks.filter((t) => (t.disc_number ?? 1) === disc).map((t, i) => this.trackRow(t, t.track_number ?? i + 1))),
    ]);
  }

  render() {
    const body = $('library-body');
    if (this.album) {
      const album = this.album;
      const firstTrack = album.tracks?.[0];
      body.replaceChildren(
        h('button', { class: 'btn btn-ghost btn-sm back', type: 'button', dataset: { testid: 'album-back' }, onclick: () => { this.album = null; this.render(); } }, h('span', { html: icons.back }), 'Library'),
        h(
          'div',
          { class: 'album-head', dataset: { testid: 'album-detail', albumUuid: album.album_uuid } },
          coverImage(firstTrack?.track_uuid, 'album-cover'),
          h('div', { class: 'album-head-text' },
            h('h3', {}, album.title),
            h('p', { class: 'muted' }, [album.artist, album.year, `${album.track_count} tracks`].filter(Boolean).join(' · ')),
            this.albumActions(album),
          ),
        ),
        ...this.albumTrackLists(album.tracks || []),
      );
      return;
    }
    const sections = [];
    if (this.albums.length) {
      sections.push(
        h('h3', { class: 'section-title' }, 'Albums'),
        h(
          'ul',
          { class: 'album-grid', dataset: { testid: 'album-list' } },
          this.albums.map((album) =>
            h(
              'li',
              { class: 'album-card', dataset: { testid: 'album-row', albumUuid: album.album_uuid, title: album.title } },
              h('button', { class: 'album-open', type: 'button', title: `Open ${album.title}`, onclick: () => this.openAlbum(album.album_uuid) },
                h('span', { class: 'album-initial', 'aria-hidden': 'true' }, (album.title || '?').slice(0, 1).toUpperCase()),
                h('span', { class: 'album-text' },
                  h('span', { class: 'row-title' }, album.title),
                  h('span', { class: 'row-sub' }, [album.artist, album.year].filter(Boolean).join(' · ')),
                ),
              ),
              this.albumActions(album),
            ),
          ),
        ),
      );
    }
    sections.push(h('h3', { class: 'section-title' }, 'Tracks'));
    if (this.tracks.length) {
      sections.push(h('ol', { class: 'rows', dataset: { testid: 'track-list' } }, this.tracks.map((t) => this.trackRow(t))));
    } else {
      sections.push(h('p', { class: 'empty' }, this.query ? `Nothing matches “${this.query}”.` : 'The library is empty.'));
    }
    if (this.trackTotal > this.tracks.length) {
      sections.push(h('button', { class: 'btn btn-ghost more', type: 'button', onclick: () => this.load(true) }, `Show more (${this.trackTotal - this.tracks.length})`));
    }
    body.replaceChildren(...sections);
  }
}

/** An <img> of a track's embedded cover that removes itself when there is none (404). */
export function coverImage(trackUuid, className) {
  const wrap = h('span', { class: `${className} cover-fallback` });
  if (!trackUuid) return wrap;
  const img = h('img', { alt: '', loading: 'lazy', src: `/tracks/${trackUuid}/cover` });
  img.addEventListener('load', () => wrap.classList.remove('cover-fallback'));
  img.addEventListener('error', () => img.remove());
  wrap.append(img);
  return wrap;
}

// --- devices ----------------------------------------------------------------------------------

export class DevicesView {
  constructor(app) {
    this.app = app;
    this.devices = [];
    this.showOffline = false;
  }

  render(page) {
    if (page) this.devices = page.items;
    const me = this.app.device.uuid;
    const list = $('device-list');
    const sorted = [...this.devices].sort(
      (a, b) => (b.device_uuid === me) - (a.device_uuid === me) || (b.online - a.online) || a.device_name.localeCompare(b.device_name),
    );
    // Offline devices that are neither this one nor the speaker fold away (browsers pile up).
    const folded = sorted.filter((d) => !d.online && !d.is_active && d.device_uuid !== me);
    const shown = this.showOffline ? sorted : sorted.filter((d) => !folded.includes(d));
    const toggle = folded.length
      ? h('li', { class: 'device-fold' }, h('button', {
          class: 'btn btn-ghost btn-sm',
          type: 'button',
          dataset: { testid: 'devices-offline-toggle' },
          onclick: () => { this.showOffline = !this.showOffline; this.render(); },
        }, this.showOffline ? 'Hide offline devices' : `Show ${folded.length} offline device${folded.length === 1 ? '' : 's'}`))
      : null;
    list.replaceChildren(
      ...shown.map((d) => {
        const mine = d.device_uuid === me;
        const mobile = /mobile|android|ios/i.test(d.device_platform || '');
        return h(
          'li',
          {
            class: `device-row${d.is_active ? ' is-active' : ''}${d.online ? ' is-online' : ''}`,
            dataset: { testid: 'device-row', deviceUuid: d.device_uuid, online: String(d.online), active: String(d.is_active), mine: String(mine) },
          },
          h('span', { class: 'device-icon', html: mobile ? icons.phone : icons.device }),
          h(
            'span',
            { class: 'device-text' },
            h('span', { class: 'device-title' },
              h('span', { class: `dot${d.online ? ' dot-on' : ''}`, title: d.online ? 'online' : 'offline', dataset: { testid: 'device-online' } }),
              h('span', { class: 'device-name-text', dataset: { testid: 'device-row-name' } }, d.device_name),
            ),
            h('span', { class: 'device-sub' },
              [mine ? 'This device' : null, d.online ? 'online' : 'offline'].filter(Boolean).join(' · '),
            ),
          ),
          d.is_active
            ? h('span', { class: 'badge', dataset: { testid: 'device-speaker-badge' } }, h('span', { class: 'eq eq-sm' }, h('i'), h('i'), h('i')), 'Speaker')
            : h('button', {
                class: `btn btn-sm ${mine ? 'btn-primary' : 'btn-ghost'}`,
                type: 'button',
                dataset: { testid: 'device-make-speaker' },
                disabled: !mine && !d.online,
                title: mine ? 'Play on this device' : d.online ? `Play on ${d.device_name}` : `${d.device_name} is offline`,
                onclick: () => this.app.chooseSpeaker(d.device_uuid),
              }, mine ? 'Play here' : 'Play there'),
          !mine && !d.is_active && !d.online
            ? iconButton(icons.close, `Forget ${d.device_name}`, 'device-forget', () => this.app.forgetDevice(d))
            : null,
        );
      }),
      ...(toggle ? [toggle] : []),
    );
    const online = this.devices.filter((d) => d.online).length;
    $('devices-count').textContent = `${online} online`;
  }
}
