// Inline SVG icons (24×24, currentColor). Static strings only.
const svg = (body, extra = '') =>
  `<svg viewBox="0 0 24 24" width="24" height="24" aria-hidden="true" focusable="false" ${extra}>${body}</svg>`;

export const icons = {
  play: svg('<path d="M8 5.5v13a1 1 0 0 0 1.5.86l10.5-6.5a1 1 0 0 0 0-1.72L9.5 4.64A1 1 0 0 0 8 5.5z" fill="currentColor"/>'),
  pause: svg('<rect x="6.5" y="5" width="4" height="14" rx="1.2" fill="currentColor"/><rect x="13.5" y="5" width="4" height="14" rx="1.2" fill="currentColor"/>'),
  next: svg('<path d="M6 6.2v11.6a.8.8 0 0 0 1.25.66L15.5 12.7a.8.8 0 0 0 0-1.4L7.25 5.54A.8.8 0 0 0 6 6.2z" fill="currentColor"/><rect x="16.5" y="5.5" width="2.2" height="13" rx="1" fill="currentColor"/>'),
  prev: svg('<path d="M18 6.2v11.6a.8.8 0 0 1-1.25.66L8.5 12.7a.8.8 0 0 1 0-1.4l8.25-5.76A.8.8 0 0 1 18 6.2z" fill="currentColor"/><rect x="5.3" y="5.5" width="2.2" height="13" rx="1" fill="currentColor"/>'),
  shuffle: svg('<path d="M4 7h3.2c1.3 0 2.5.64 3.2 1.7l3.2 4.6c.73 1.06 1.93 1.7 3.2 1.7H19M4 17h3.2c1.3 0 2.5-.64 3.2-1.7l.5-.7m2.2-3.2.5-.7c.73-1.06 1.93-1.7 3.2-1.7H19M17 5l2.5 2.5L17 10M17 14l2.5 2.5L17 19" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>'),
  repeat: svg('<path d="M5 11V9.5A2.5 2.5 0 0 1 7.5 7H18m-3-3 3 3-3 3M19 13v1.5a2.5 2.5 0 0 1-2.5 2.5H6m3 3-3-3 3-3" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>'),
  heart: svg('<path d="M12 20s-7-4.35-7-10a4 4 0 0 1 7-2.65A4 4 0 0 1 19 10c0 5.65-7 10-7 10z" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/>'),
  heartFilled: svg('<path d="M12 20s-7-4.35-7-10a4 4 0 0 1 7-2.65A4 4 0 0 1 19 10c0 5.65-7 10-7 10z" fill="currentColor" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/>'),
  speaker: svg('<rect x="6" y="3" width="12" height="18" rx="2.5" fill="none" stroke="currentColor" stroke-width="1.8"/><circle cx="12" cy="14" r="3" fill="none" stroke="currentColor" stroke-width="1.8"/><circle cx="12" cy="7.5" r="1.1" fill="currentColor"/>'),
  volume: svg('<path d="M4 9.5v5h3.5L12 18.5v-13L7.5 9.5H4z" fill="currentColor"/><path d="M15.5 8.5a5 5 0 0 1 0 7M18 6a8.5 8.5 0 0 1 0 12" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  mute: svg('<path d="M4 9.5v5h3.5L12 18.5v-13L7.5 9.5H4z" fill="currentColor"/><path d="m16 9.5 5 5m0-5-5 5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  close: svg('<path d="m7 7 10 10M17 7 7 17" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  plus: svg('<path d="M12 5v14M5 12h14" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  playNext: svg('<path d="M4 7h10M4 12h10M4 17h6" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/><path d="M15 14.5v5l4.5-2.5z" fill="currentColor"/>'),
  back: svg('<path d="M15 5l-7 7 7 7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>'),
  device: svg('<rect x="3" y="5" width="18" height="12" rx="2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M8 20h8" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  phone: svg('<rect x="7" y="3" width="10" height="18" rx="2.2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M11 18h2" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>'),
  note: svg('<path d="M9 18V6l10-2v12" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/><circle cx="6.5" cy="18" r="2.5" fill="none" stroke="currentColor" stroke-width="1.6"/><circle cx="16.5" cy="16" r="2.5" fill="none" stroke="currentColor" stroke-width="1.6"/>'),
  edit: svg('<path d="M4 20h4L19 9l-4-4L4 16v4z" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linejoin="round"/>'),
};
