// Is the server reachable from this tab? Either the browser says it is offline, or the server
// stopped answering (the event stream keeps reconnecting and a probe request fails). Then a
// banner says so and everything that needs the server is disabled: those controls sit in
// `<fieldset class="net">` elements (a disabled fieldset disables every button and input in
// it, including rows drawn later, and restores each one's own state when it is enabled again).

import { api, ApiError } from './api.js';
import { $ } from './dom.js';
import { onUnreachable } from './errors.js';

const PROBE_AFTER_MS = 4000; // a stream reconnecting this long: ask the server directly
const PROBE_EVERY_MS = 5000;

const MESSAGES = {
  offline: 'You are offline. Playback controls come back when the network does.',
  unreachable: 'The server cannot be reached. Trying again…',
};

export class Connectivity {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.serverDown = false;
    this.probeTimer = null;
  }

  get state() {
    if (!navigator.onLine) return 'offline';
    return this.serverDown ? 'unreachable' : 'online';
  }

  bind() {
    const { app } = this;
    app.listen(window, 'online', () => this.render());
    app.listen(window, 'offline', () => this.render());
    onUnreachable(() => this.suspect(0));
    this.render();
  }

  stop() {
    clearTimeout(this.probeTimer);
    onUnreachable(null);
  }

  /** The event stream's state (events.js). */
  streamStatus(state) {
    if (state === 'live') {
      this.reachable();
    } else if (state === 'reconnecting') {
      this.suspect(PROBE_AFTER_MS);
    }
  }

  reachable() {
    clearTimeout(this.probeTimer);
    this.probeTimer = null;
    if (this.serverDown) {
      this.serverDown = false;
      this.render();
    }
  }

  /** Something failed to reach the server: probe in `delayMs` (once at a time). */
  suspect(delayMs) {
    if (this.probeTimer) return;
    this.probeTimer = setTimeout(() => this.probe(), delayMs);
  }

  async probe() {
    this.probeTimer = null;
    if (!navigator.onLine) {
      this.render();
      return;
    }
    try {
      await api.get('/users/me');
      this.reachable();
      return;
    } catch (err) {
      // Any answer (even a 401 or 503) means the network path works.
      if (!(err instanceof ApiError && err.status === 0)) {
        this.reachable();
        return;
      }
    }
    if (!this.serverDown) {
      this.serverDown = true;
      this.render();
    }
    this.probeTimer = setTimeout(() => this.probe(), PROBE_EVERY_MS);
  }

  render() {
    const state = this.state;
    const online = state === 'online';
    $('app').dataset.online = String(online);
    const banner = $('offline-banner');
    banner.hidden = online;
    banner.dataset.state = state;
    banner.textContent = online ? '' : MESSAGES[state];
    for (const fieldset of document.querySelectorAll('fieldset.net')) fieldset.disabled = !online;
    if (online && this.app.sync.snap) this.app.sync.resyncSoon();
  }
}
