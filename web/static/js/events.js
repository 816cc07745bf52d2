// The session's SSE stream (GET /events?device_uuid=…, cookie-authenticated).
//
// EventSource reconnects by itself after a dropped connection (sending Last-Event-ID); when the
// server refuses (e.g. 401) it gives up, and a silent stall is invisible to it. So this wrapper
// also reopens after a CLOSED error (with backoff) and when nothing — not even a beacon, sent
// every 3–5 s — has arrived for a while. It reports 'live' / 'reconnecting' for the indicator.

import { localNow } from './clock.js';

export const EVENT_NAMES = [
  'snapshot',
  'timeline_update',
  'speaker_change',
  'queue_change',
  'options_change',
  'like',
  'timeline_beacon',
];

const SILENCE_MS = 15_000;
const WATCHDOG_MS = 3_000;

export class EventStream {
  /**
   * @param {string} deviceUuid
   * @param {(name: string, data: object, receivedAt: number) => void} onEvent
   * @param {(state: 'connecting'|'live'|'reconnecting') => void} onStatus
   * @param {() => Promise<boolean>} stillAuthorized resolves false when the session is gone
   */
  constructor(deviceUuid, onEvent, onStatus, stillAuthorized) {
    this.url = `/events?device_uuid=${encodeURIComponent(deviceUuid)}`;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.stillAuthorized = stillAuthorized;
    this.source = null;
    this.lastMessageAt = 0;
    this.failures = 0;
    this.retryTimer = null;
    this.watchdog = null;
    this.stopped = true;
    this.status = null;
    this.onOnline = () => this.reopen();
    // The browser knows the network is gone before the stream times out: say so, stop trying.
    this.onOffline = () => {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.close();
      this.setStatus('reconnecting');
    };
  }

  setStatus(status) {
    if (status === this.status) return;
    this.status = status;
    this.onStatus(status);
  }

  start() {
    this.stopped = false;
    this.setStatus('connecting');
    this.open();
    this.watchdog = setInterval(() => this.checkSilence(), WATCHDOG_MS);
    window.addEventListener('online', this.onOnline);
    window.addEventListener('offline', this.onOffline);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.watchdog);
    clearTimeout(this.retryTimer);
    window.removeEventListener('online', this.onOnline);
    window.removeEventListener('offline', this.onOffline);
    this.close();
  }

  open() {
    this.close();
    const source = new EventSource(this.url, { withCredentials: true });
    this.source = source;
    this.lastMessageAt = localNow();
    source.onopen = () => {
      if (source !== this.source) return;
      this.failures = 0;
      this.lastMessageAt = localNow();
      this.setStatus('live');
    };
    source.onerror = () => {
      if (source !== this.source || this.stopped) return;
      this.setStatus('reconnecting');
      if (source.readyState === EventSource.CLOSED) this.scheduleReopen();
    };
    for (const name of EVENT_NAMES) {
      source.addEventListener(name, (event) => {
        if (source !== this.source) return;
        const receivedAt = localNow();
        this.lastMessageAt = receivedAt;
        this.setStatus('live');
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          return;
        }
        this.onEvent(name, data, receivedAt);
      });
    }
  }

  close() {
    if (this.source) {
      this.source.onopen = null;
      this.source.onerror = null;
      this.source.close();
      this.source = null;
    }
  }

  reopen() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.setStatus('reconnecting');
    this.open();
  }

  scheduleReopen() {
    this.close();
    clearTimeout(this.retryTimer);
    this.failures += 1;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6)) * (0.75 + Math.random() * 0.5);
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      if (this.stopped) return;
      if (!(await this.stillAuthorized())) return; // the app shows the login form
      this.open();
    }, delay);
  }

  checkSilence() {
    if (this.stopped) return;
    if (!this.source) {
      // Closed while offline: come back when the browser thinks the network is back anyway.
      if (navigator.onLine && !this.retryTimer) this.reopen();
      return;
    }
    if (localNow() - this.lastMessageAt > SILENCE_MS) {
      this.setStatus('reconnecting');
      this.open();
    }
  }
}
