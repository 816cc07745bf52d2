// The queue: what plays now, what comes next (in play order — the shuffle order while shuffle
// is on) and what was played recently (the server's listens, so clearing the queue does not
// erase it). Upcoming songs can be dragged into another order with a pointer, or moved with
// ↑/↓ on their handle; "Clear upcoming" removes everything after the current song.
// Reordering changes the queue order, which is not the play order while shuffling, so it is
// off then.

import { catalog } from './catalog.js';
import { $, formatTime, h, iconButton, trackSub } from './dom.js';
import { icons } from './icons.js';
import { trackRow } from './rows.js';

export class QueueView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.title = 'Queue';
    this.page = null;
    this.order = null; // optimistic order of upcoming item uuids while a move is in flight
    this.focusItem = null; // keep keyboard focus on this item's handle after a redraw
    this.historyKey = null;
    this.nowList = h('ol', { class: 'rows', dataset: { testid: 'queue-now' } });
    this.nextList = h('ol', { class: 'rows queue-next', dataset: { testid: 'queue-list' } });
    this.historyList = h('ol', { class: 'rows', dataset: { testid: 'queue-history' } });
    this.summary = h('p', { class: 'view-count muted', id: 'queue-summary', dataset: { testid: 'queue-summary' } });
    this.clearButton = h('button', { class: 'btn btn-ghost btn-sm', type: 'button', dataset: { testid: 'queue-clear' }, onclick: () => app.commands.clearQueue() }, 'Clear upcoming');
    this.shuffleNote = h('p', { class: 'muted queue-note', hidden: true }, 'Turn shuffle off to reorder the queue.');
    this.empty = h('p', { class: 'empty', dataset: { testid: 'queue-empty' } }, 'The queue is empty. Add something from the library.');
    this.announcer = h('p', { class: 'sr-only', 'aria-live': 'assertive' });
    this.el = h(
      'section',
      { class: 'view queue-view', 'aria-label': 'Queue', dataset: { testid: 'queue-panel' } },
      h('header', { class: 'view-head' }, h('h1', { class: 'view-title' }, 'Queue'), this.summary),
      this.empty,
      h('section', { class: 'queue-section', dataset: { part: 'now' } }, h('h2', { class: 'group-title' }, 'Now playing'), this.nowList),
      h('section', { class: 'queue-section', dataset: { part: 'next' } },
        h('div', { class: 'group-head' }, h('h2', { class: 'group-title' }, 'Next up'), this.clearButton),
        this.shuffleNote, this.nextList),
      h('section', { class: 'queue-section', dataset: { part: 'history' } }, h('h2', { class: 'group-title' }, 'Recently played'), this.historyList),
      this.announcer,
    );
  }

  show() {
    this.loadHistory();
  }

  /** The session moved without a queue change (e.g. the current item): redraw what we have. */
  redraw(snapshot) {
    if (this.page) this.render(null, snapshot);
  }

  render(page, snapshot) {
    if (page) {
      this.page = page;
      this.order = null;
    }
    const data = this.page;
    const total = data?.total ?? 0;
    $('queue-count').textContent = String(total);
    const items = data ? [...data.items].sort((a, b) => a.play_order - b.play_order) : [];
    const currentIdx = snapshot?.queue_position;
    const current = items.find((item) => item.idx === currentIdx) ?? null;
    let upcoming = current ? items.filter((item) => item.play_order > current.play_order) : items;
    if (this.order) {
      const byUuid = new Map(upcoming.map((item) => [item.item_uuid, item]));
      upcoming = this.order.map((uuid) => byUuid.get(uuid)).filter(Boolean);
    }
    const reorderable = !snapshot?.shuffle && upcoming.length > 1;
    this.nowList.replaceChildren(...(current ? [this.itemRow(current, { current: true })] : []));
    this.nextList.replaceChildren(...upcoming.map((item, n) => this.itemRow(item, { number: n + 1, reorderable })));
    this.nowList.parentElement.hidden = !current;
    this.nextList.parentElement.hidden = upcoming.length === 0;
    this.shuffleNote.hidden = !(snapshot?.shuffle && upcoming.length > 1);
    this.clearButton.hidden = upcoming.length === 0;
    this.empty.hidden = total > 0;
    const minutes = Math.round(upcoming.reduce((sum, item) => sum + item.track.duration_ms, 0) / 60000);
    const shownAll = !data || data.total <= data.items.length;
    this.summary.textContent = total
      ? `${upcoming.length} up next${minutes ? ` · ${minutes} min` : ''}${shownAll ? '' : ` (the first ${data.items.length} of ${total} are shown)`}`
      : '';
    if (this.focusItem) {
      const handle = this.nextList.querySelector(`[data-item-uuid="${this.focusItem}"] [data-testid=queue-drag]`);
      handle?.focus();
      this.focusItem = null;
    }
    const key = `${snapshot?.track_uuid}|${snapshot?.queue_position}`;
    if (key !== this.historyKey && this.el.isConnected && !this.el.hidden) this.loadHistory();
  }

  itemRow(item, { current = false, number = null, reorderable = false }) {
    const commands = this.app.commands;
    const title = item.track.title;
    const row = h(
      'li',
      {
        class: `row queue-row${current ? ' is-current' : ''} status-${item.status}`,
        dataset: { testid: 'queue-item', itemUuid: item.item_uuid, trackUuid: item.track_uuid, status: item.status, current: String(current) },
        'aria-current': current ? 'true' : false,
      },
      reorderable
        ? h('button', {
            class: 'icon-btn icon-btn-sm drag-handle',
            type: 'button',
            html: icons.grip,
            'aria-label': `Move ${title} (arrow keys up and down)`,
            title: 'Drag to reorder',
            dataset: { testid: 'queue-drag' },
            onkeydown: (e) => this.onHandleKey(e, item),
            onpointerdown: (e) => this.startDrag(e, item, row),
          })
        : h('span', { class: 'row-num' }, current ? h('span', { class: 'eq', role: 'img', 'aria-label': 'now playing' }, h('i'), h('i'), h('i')) : String(number ?? '')),
      h(
        'button',
        { class: 'row-main', type: 'button', title: `Play ${title}`, dataset: { testid: 'queue-play' }, onclick: () => commands.playItem(item.item_uuid) },
        h('span', { class: 'row-title' }, h('span', { class: 'row-title-text', dataset: { testid: 'queue-title' } }, title)),
        h('span', { class: 'row-sub' }, item.status === 'failed' ? 'Could not be played' : trackSub(item.track)),
      ),
      h('span', { class: 'row-dur' }, formatTime(item.track.duration_ms)),
      iconButton(icons.close, `Remove ${title} from the queue`, 'queue-remove', () => commands.removeItem(item.item_uuid)),
    );
    return row;
  }

  // --- reordering ------------------------------------------------------------------------------

  upcomingUuids() {
    return [...this.nextList.querySelectorAll('[data-testid=queue-item]')].map((row) => row.dataset.itemUuid);
  }

  /** Move `item` to position `to` among the upcoming songs: drawn at once, then sent. */
  move(item, to) {
    const order = this.upcomingUuids();
    const from = order.indexOf(item.item_uuid);
    if (from < 0 || to < 0 || to >= order.length || to === from) return false;
    // The queue index of the song now at `to` is where this one goes (shuffle is off here, so
    // play order is queue order).
    const target = this.page.items.find((i) => i.item_uuid === order[to]);
    order.splice(to, 0, order.splice(from, 1)[0]);
    this.order = order;
    this.render(null, this.app.sync.snap);
    this.app.commands.moveItem(item.item_uuid, target.idx);
    this.announcer.textContent = `${item.track.title} moved to position ${to + 1} of ${order.length}.`;
    return true;
  }

  onHandleKey(e, item) {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    e.preventDefault();
    e.stopPropagation();
    const order = this.upcomingUuids();
    const from = order.indexOf(item.item_uuid);
    this.focusItem = item.item_uuid;
    if (!this.move(item, from + (e.key === 'ArrowUp' ? -1 : 1))) this.focusItem = null;
  }

  startDrag(e, item, row) {
    if (e.button !== 0) return;
    e.preventDefault();
    const handle = e.currentTarget;
    handle.setPointerCapture(e.pointerId);
    const rows = [...this.nextList.querySelectorAll('[data-testid=queue-item]')];
    const from = rows.indexOf(row);
    const mids = rows.map((r) => {
      const rect = r.getBoundingClientRect();
      return rect.top + rect.height / 2;
    });
    const height = row.getBoundingClientRect().height;
    const startY = e.clientY;
    let to = from;
    row.classList.add('is-dragging');
    const onMove = (ev) => {
      const dy = ev.clientY - startY;
      row.style.transform = `translateY(${dy}px)`;
      // The dragged row's middle passed another row's middle: that is its new place.
      const y = mids[from] + dy;
      to = from;
      while (to > 0 && y < mids[to - 1]) to -= 1;
      while (to < rows.length - 1 && y > mids[to + 1]) to += 1;
      rows.forEach((r, i) => {
        if (i === from) return;
        const shift = from < to && i > from && i <= to ? -height : from > to && i < from && i >= to ? height : 0;
        r.style.transform = shift ? `translateY(${shift}px)` : '';
      });
    };
    const onEnd = () => {
      handle.removeEventListener('pointermove', onMove);
      handle.removeEventListener('pointerup', onEnd);
      handle.removeEventListener('pointercancel', onEnd);
      for (const r of rows) r.style.transform = '';
      row.classList.remove('is-dragging');
      if (to !== from) this.move(item, to);
    };
    handle.addEventListener('pointermove', onMove);
    handle.addEventListener('pointerup', onEnd);
    handle.addEventListener('pointercancel', onEnd);
  }

  // --- history ---------------------------------------------------------------------------------

  async loadHistory() {
    const snap = this.app.sync.snap;
    this.historyKey = `${snap?.track_uuid}|${snap?.queue_position}`;
    let page;
    try {
      page = await catalog.listens({ limit: 20 });
    } catch {
      return; // the section keeps what it showed
    }
    this.historyList.replaceChildren(
      ...page.items.map((listen) => trackRow(this.app, listen.track, { art: true, sub: `${trackSub(listen.track)} · ${whenPlayed(listen.listened_at)}` })),
    );
    this.historyList.parentElement.hidden = page.items.length === 0;
  }
}

function whenPlayed(iso) {
  const at = Date.parse(iso);
  if (!Number.isFinite(at)) return '';
  const minutes = Math.round((Date.now() - at) / 60000);
  if (minutes < 1) return 'just now';
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return new Date(at).toLocaleDateString();
}
