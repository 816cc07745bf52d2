// Small DOM helpers and formatting shared by the views. No framework: elements are built with
// `h()` and text always goes through textContent (never innerHTML with data).

export const $ = (id) => document.getElementById(id);

/** h('li', {class: 'row', dataset: {x: 1}, onclick}, child, 'text') */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'html') el.innerHTML = value; // only for our own static SVG icons
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function formatTime(ms) {
  if (!Number.isFinite(ms) || ms < 0) ms = 0;
  const total = Math.floor(ms / 1000);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** RFC 4122 v4; crypto.randomUUID exists only in secure contexts (a LAN http:// host is not one). */
export function uuid4() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let toastSeq = 0;
export function toast(message, kind = 'info', ms = 3500, testid = 'toast') {
  const box = $('toasts');
  if (!box) return;
  const el = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', dataset: { testid, seq: ++toastSeq } }, message);
  box.append(el);
  setTimeout(() => el.classList.add('toast-out'), ms);
  setTimeout(() => el.remove(), ms + 400);
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** A small round button with an inline icon; `label` is its accessible name and tooltip. */
export const iconButton = (icon, label, testid, onclick, extra = {}) =>
  h('button', { class: 'icon-btn icon-btn-sm', type: 'button', 'aria-label': label, title: label, html: icon, dataset: { testid }, onclick, ...extra });

/** "Artist · Album" under a track's title. */
export const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

export const trackSub = (track) => [track.artist, track.album].filter(Boolean).join(' · ');
