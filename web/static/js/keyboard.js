// Keyboard shortcuts for the whole page, from one table that also fills the "?" help dialog.
// Ignored while the person types in a field, while a dialog is open (it has its own keys) and
// with Ctrl/Alt/⌘ held (the browser's own shortcuts); ←/→ on the volume slider and on a queue
// item's handle keep their own meaning.

import { SEEK_STEP_MS } from './commands.js';
import { $, h } from './dom.js';

export function isTyping(el) {
  return (
    el instanceof HTMLElement &&
    (el.isContentEditable ||
      (el.tagName === 'INPUT' && !['range', 'checkbox', 'button', 'radio'].includes(el.type)) ||
      el.tagName === 'TEXTAREA' ||
      el.tagName === 'SELECT')
  );
}

const isSpace = (e) => e.key === ' ' || e.code === 'Space';

/** [keys shown in the help, what it does, (event) => matches, (app) => run] */
const SHORTCUTS = [
  [['Space'], 'Play or pause', isSpace, (app) => app.commands.togglePlay()],
  [['←', '→'], 'Back or forward 10 seconds', (e) => e.key === 'ArrowLeft' || e.key === 'ArrowRight', (app, e) => app.commands.seekBy(e.key === 'ArrowLeft' ? -SEEK_STEP_MS : SEEK_STEP_MS)],
  [['N'], 'Next song', (e) => e.key === 'n' || e.key === 'N', (app) => app.commands.next()],
  [['P'], 'Previous song', (e) => e.key === 'p' || e.key === 'P', (app) => app.commands.prev()],
  [['L'], 'Like or unlike the song', (e) => e.key === 'l' || e.key === 'L', (app) => app.commands.like()],
  [['S'], 'Shuffle on or off', (e) => e.key === 's' || e.key === 'S', (app) => app.commands.toggleShuffle()],
  [['R'], 'Repeat: off, all, one', (e) => e.key === 'r' || e.key === 'R', (app) => app.commands.cycleRepeat()],
  [['/'], 'Search', (e) => e.key === '/', () => focusSearch()],
  [['?'], 'These shortcuts', (e) => e.key === '?', () => openHelp()],
  [['Esc'], 'Close the now playing view or a dialog', (e) => e.key === 'Escape', (app) => {
    if ($('app').dataset.expanded === 'true') app.router.back();
  }],
];

function focusSearch() {
  const input = $('search-input');
  input.focus();
  input.select();
}

function openHelp() {
  const dialog = $('help-dialog');
  if (!dialog.open) dialog.showModal();
}

/** @param {import('./app.js').App} app */
export function bindKeyboard(app) {
  $('help-list').replaceChildren(
    ...SHORTCUTS.flatMap(([keys, label]) => [
      h('dt', {}, keys.map((key) => h('kbd', {}, key))),
      h('dd', {}, label),
    ]),
  );
  const help = $('help-dialog');
  app.listen(help, 'click', (e) => {
    if (e.target === help || e.target.closest?.('[data-close]')) help.close();
  });
  app.listen($('menu-help'), 'click', () => {
    app.topBar.closeMenu();
    openHelp();
  });

  // Capture phase: on the progress bar ←/→ seek 10 s instead of the range's own 1 ms step.
  app.listen(document, 'keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || isTyping(e.target)) return;
    if (document.querySelector('dialog[open]')) return;
    const arrow = e.key.startsWith('Arrow');
    if (arrow && e.target instanceof Element && e.target.closest('#volume, [data-testid=queue-drag]')) return; // their own arrows
    const shortcut = SHORTCUTS.find(([, , matches]) => matches(e));
    if (!shortcut) return;
    e.preventDefault();
    if (e.repeat && !arrow) return;
    shortcut[3](app, e);
  }, true);
  // A focused button would also "click" on the space key's release.
  app.listen(document, 'keyup', (e) => {
    if (isSpace(e) && !isTyping(e.target) && !document.querySelector('dialog[open]')) e.preventDefault();
  }, true);
}
