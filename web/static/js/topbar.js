// The top bar: the live/reconnecting indicator of the event stream and the account menu (who
// is signed in, keyboard shortcuts, sign out). The search field is search-view.js's.

import { $ } from './dom.js';
import { icons } from './icons.js';

const CONNECTION_LABEL = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…' };

export class TopBar {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
  }

  bind() {
    const { app } = this;
    $('me-name').textContent = app.me.username;
    $('btn-menu').innerHTML = icons.user;
    document.querySelector('.search-icon').innerHTML = icons.search;
    for (const slot of document.querySelectorAll('.nav-icon[data-icon]')) slot.innerHTML = icons[slot.dataset.icon] ?? '';
    app.listen($('btn-menu'), 'click', (e) => {
      e.stopPropagation();
      if ($('menu').hidden) this.openMenu();
      else this.closeMenu();
    });
    app.listen(document, 'click', (e) => {
      if (!$('menu').hidden && !e.target.closest?.('.menu-wrap')) this.closeMenu();
    });
    app.listen($('menu'), 'click', (e) => {
      if (e.target.closest?.('a')) this.closeMenu();
    });
    app.listen($('menu'), 'keydown', (e) => {
      if (e.key === 'Escape') {
        this.closeMenu();
        $('btn-menu').focus();
      }
    });
  }

  openMenu() {
    $('menu').hidden = false;
    $('btn-menu').setAttribute('aria-expanded', 'true');
    $('menu').querySelector('a, button')?.focus();
  }

  closeMenu() {
    $('menu').hidden = true;
    $('btn-menu').setAttribute('aria-expanded', 'false');
  }

  connectionStatus(state) {
    $('conn').dataset.state = state;
    $('conn-label').textContent = CONNECTION_LABEL[state] ?? state;
  }
}
