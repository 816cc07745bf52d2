// Windowed rendering for lists of any length (200,000 songs): the DOM holds only the rows in
// and near the viewport, absolutely placed inside one tall box whose height is
// `rows × rowHeight`; scrolling moves, reuses or drops them. Items are fetched by page (offset,
// limit) as they come near, a placeholder row stands in until its page arrives, and at most
// MAX_PAGES pages are kept. The page scrolls (window), not the list, so one scroll position
// serves the whole view on a phone and a laptop alike.
//
// A grid (album covers) is the same list with several items per row: `layout(width)` says how
// many columns fit and how tall a row is.

import { h } from './dom.js';

const MAX_PAGES = 40;
const FETCH_DELAY_MS = 60; // while the scrollbar is dragged, fetch where it stops, not everywhere

export class VirtualList {
  /**
   * @param {object} o
   * @param {(offset: number, limit: number) => Promise<{items: object[], total: number}>} o.load
   * @param {(item: object, index: number) => HTMLElement} o.renderItem
   * @param {(width: number) => {columns: number, rowHeight: number, gap?: number}} o.layout
   * @param {string} o.label accessible name of the list
   * @param {string} [o.empty] shown when there are no items
   * @param {number} [o.pageSize]
   * @param {(total: number) => void} [o.onTotal]
   */
  constructor({ load, renderItem, layout, label, empty = 'Nothing here yet.', pageSize = 100, overscan = 5, onTotal = null, testid = 'vlist' }) {
    this.load = load;
    this.renderItem = renderItem;
    this.layout = layout;
    this.pageSize = pageSize;
    this.overscan = overscan;
    this.onTotal = onTotal;
    this.emptyText = empty;
    this.total = null;
    this.pages = new Map(); // page number → items (insertion order = age)
    this.pending = new Set();
    this.failedAt = new Map();
    this.nodes = new Map(); // index → element
    this.gen = 0;
    this.frame = 0;
    this.fetchTimer = null;
    this.geometry = { columns: 1, rowHeight: 56, gap: 0, width: 0 };
    this.box = h('div', { class: 'vlist-box' });
    this.emptyEl = h('p', { class: 'empty', hidden: true }, empty);
    // The rows' parent is the list (a list must hold list items: it is one only while some are
    // drawn — an empty list or one of placeholders is just its text).
    this.label = label;
    this.el = h('div', { class: 'vlist', dataset: { testid } }, this.box, this.emptyEl);
    this.onScroll = () => this.schedule();
    this.onOnline = () => {
      if (this.retryOnShow && this.el.offsetParent !== null) this.shown();
    };
    window.addEventListener('online', this.onOnline);
    window.addEventListener('scroll', this.onScroll, { passive: true });
    window.addEventListener('resize', this.onScroll, { passive: true });
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.el);
  }

  destroy() {
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('scroll', this.onScroll);
    window.removeEventListener('resize', this.onScroll);
    this.resizeObserver.disconnect();
    cancelAnimationFrame(this.frame);
    clearTimeout(this.fetchTimer);
  }

  /** role=list (with its label) on the rows' parent while it holds a drawn row, else none. */
  markList() {
    const hasItems = [...this.nodes.values()].some((node) => node.dataset.loaded === 'true');
    if (hasItems === (this.box.getAttribute('role') === 'list')) return;
    if (hasItems) {
      this.box.setAttribute('role', 'list');
      this.box.setAttribute('aria-label', this.label);
    } else {
      this.box.removeAttribute('role');
      this.box.removeAttribute('aria-label');
    }
  }

  /** Forget everything and load again (a new sort, a like elsewhere). */
  reset() {
    this.gen += 1;
    this.total = null;
    this.pages.clear();
    this.pending.clear();
    this.failedAt.clear();
    for (const node of this.nodes.values()) node.remove();
    this.nodes.clear();
    this.markList();
    this.schedule();
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.update();
    });
  }

  item(index) {
    return this.pages.get(Math.floor(index / this.pageSize))?.[index % this.pageSize];
  }

  /** The first item's index in view, and scrolling to an item (the letter jump). */
  scrollToIndex(index) {
    const { columns, rowHeight } = this.geometry;
    const top = this.el.getBoundingClientRect().top + window.scrollY;
    const sticky = parseFloat(getComputedStyle(document.documentElement).getPropertyValue('--sticky-top')) || 0;
    window.scrollTo(0, top + Math.floor(index / columns) * rowHeight - sticky);
    this.schedule();
  }

  update() {
    if (!this.el.isConnected || this.el.offsetParent === null) return; // hidden view
    if (this.total === null) {
      this.fetchPage(0);
      return;
    }
    const width = this.el.clientWidth;
    const { columns, rowHeight, gap = 0 } = this.layout(width);
    this.geometry = { columns, rowHeight, gap, width };
    const rows = Math.ceil(this.total / columns);
    this.box.style.height = `${rows * rowHeight}px`;
    this.emptyEl.hidden = this.total > 0;

    const rect = this.el.getBoundingClientRect();
    const viewTop = Math.max(0, -rect.top);
    const viewBottom = Math.max(0, Math.min(rect.height, window.innerHeight - rect.top));
    const firstRow = Math.max(0, Math.floor(viewTop / rowHeight) - this.overscan);
    const lastRow = Math.min(rows - 1, Math.ceil(viewBottom / rowHeight) + this.overscan);
    const first = firstRow * columns;
    const last = Math.min(this.total - 1, (lastRow + 1) * columns - 1);

    for (const [index, node] of this.nodes) {
      if (index < first || index > last) {
        node.remove();
        this.nodes.delete(index);
      }
    }
    const cellWidth = columns > 1 ? (width - gap * (columns - 1)) / columns : width;
    const missing = new Set();
    for (let index = first; index <= last; index += 1) {
      const item = this.item(index);
      let node = this.nodes.get(index);
      const loaded = item !== undefined;
      if (!loaded) missing.add(Math.floor(index / this.pageSize));
      if (node && node.dataset.loaded === String(loaded)) {
        this.place(node, index, columns, rowHeight, gap, cellWidth);
        continue;
      }
      const fresh = loaded ? this.renderItem(item, index) : h('div', { class: 'vlist-placeholder', 'aria-hidden': 'true' }, h('span'), h('span'));
      fresh.classList.add('vlist-item');
      fresh.dataset.loaded = String(loaded);
      fresh.dataset.index = String(index);
      if (loaded) {
        fresh.setAttribute('role', 'listitem');
        fresh.setAttribute('aria-setsize', String(this.total));
        fresh.setAttribute('aria-posinset', String(index + 1));
      }
      this.place(fresh, index, columns, rowHeight, gap, cellWidth);
      if (node) node.replaceWith(fresh);
      else this.box.append(fresh);
      this.nodes.set(index, fresh);
    }
    this.markList();
    if (missing.size) {
      clearTimeout(this.fetchTimer);
      this.fetchTimer = setTimeout(() => {
        for (const page of missing) this.fetchPage(page);
      }, FETCH_DELAY_MS);
    }
  }

  place(node, index, columns, rowHeight, gap, cellWidth) {
    const row = Math.floor(index / columns);
    const col = index % columns;
    const x = col * (cellWidth + gap);
    node.style.transform = `translate(${Math.round(x)}px, ${row * rowHeight}px)`;
    if (columns > 1) node.style.width = `${cellWidth}px`;
  }

  async fetchPage(page) {
    if (this.pages.has(page) || this.pending.has(page)) return;
    if (performance.now() - (this.failedAt.get(page) ?? -Infinity) < 3000) return;
    const gen = this.gen;
    this.pending.add(page);
    try {
      const result = await this.load(page * this.pageSize, this.pageSize);
      if (gen !== this.gen) return;
      this.pages.set(page, result.items);
      while (this.pages.size > MAX_PAGES) this.pages.delete(this.pages.keys().next().value);
      if (result.total !== this.total) {
        this.total = result.total;
        this.onTotal?.(result.total);
      }
    } catch (err) {
      if (gen !== this.gen) return;
      this.failedAt.set(page, performance.now());
      if (this.total === null) {
        this.total = 0;
        this.emptyEl.textContent = 'This list could not be loaded. It is tried again when you come back.';
        this.retryOnShow = true;
      }
    } finally {
      if (gen === this.gen) this.pending.delete(page);
    }
    if (gen === this.gen) this.schedule();
  }

  /** The view came back on screen. */
  shown() {
    if (this.retryOnShow) {
      this.retryOnShow = false;
      this.emptyEl.textContent = this.emptyText;
      this.reset();
      return;
    }
    this.schedule();
  }
}
