// State sync: the newest session snapshot, the queue page and the device list.
//
// One rule: a snapshot is drawn only if its revision is newer than the last one drawn — whether
// it came from an SSE event, a command's answer or a resync. Every change bumps the revision by
// exactly one, so a gap means messages were lost (the gateway drops a lagging client's oldest
// events) and with them maybe a queue or device change: those lists are refetched then too.
// Queue and device refreshes are coalesced (never two of a kind in flight).

import { api, ApiError } from './api.js';
import { clock } from './clock.js';
import { showError } from './errors.js';

export class SessionSync {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.snap = null;
    this.rev = 0; // the newest revision applied (events with rev <= this are dropped)
    this.queueRev = -1;
    this.resyncing = false;
    this.inflight = { queue: null, devices: null };
    this.again = { queue: false, devices: false };
  }

  async resync() {
    this.resyncing = true;
    try {
      const timing = await api.timed('GET', `/sessions/${this.app.me.user_uuid}`);
      this.apply(timing.data, { timing, force: true });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) showError(err);
    } finally {
      this.resyncing = false;
    }
  }

  /** After a reconnect the stream may start without a snapshot (Last-Event-ID was current). */
  resyncSoon() {
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      this.resync();
      this.refreshDevices();
    }, 250);
  }

  stop() {
    clearTimeout(this.resyncTimer);
  }

  /** An SSE event from events.js. */
  onEvent(name, data, receivedAt) {
    const session = data.session;
    if (!session) return;
    clock.observe(session.server_time_ms, receivedAt);
    if (name === 'timeline_beacon') {
      // No id and nothing new unless it is ahead of us: then we missed a message.
      if (data.rev > this.rev && !this.resyncing) this.resync();
      return;
    }
    if (data.rev <= this.rev) return;
    this.apply(session, { rev: data.rev, type: data.type });
  }

  /** Draw a snapshot if it is newer than what we have; `timing` from our own request. */
  apply(snap, { rev = snap.revision, type = null, timing = null, force = false } = {}) {
    if (timing) clock.observe(snap.server_time_ms, timing.receivedAt, timing.sentAt);
    if (rev < this.rev || (rev === this.rev && !force)) return;
    const prev = this.snap;
    const gap = prev !== null && rev > this.rev + 1;
    this.rev = rev;
    this.snap = snap;
    this.app.onSnapshot(prev, snap, type);
    if (
      type === 'queue' ||
      gap ||
      !prev ||
      prev.queue_length !== snap.queue_length ||
      prev.queue_position !== snap.queue_position ||
      prev.shuffle !== snap.shuffle
    ) {
      if (prev) this.refreshQueue();
    } else {
      this.app.queueView.redraw(snap);
    }
    if (type === 'speaker' || gap || !prev || prev.active_device_uuid !== snap.active_device_uuid) this.refreshDevices();
  }

  // --- lists -----------------------------------------------------------------------------------

  /** Run `load` now, or once more after the one in flight (never two at a time). */
  coalesce(kind, load) {
    if (this.inflight[kind]) {
      this.again[kind] = true;
      return;
    }
    this.inflight[kind] = (async () => {
      try {
        await load();
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) console.warn(`${kind} refresh failed`, err);
      } finally {
        this.inflight[kind] = null;
        if (this.again[kind]) {
          this.again[kind] = false;
          this.coalesce(kind, load);
        }
      }
    })();
  }

  refreshQueue() {
    this.coalesce('queue', async () => this.acceptQueue(await api.get('/queue?limit=200')));
  }

  /** A queue page (from a refresh or a queue edit's answer); an older one is dropped. */
  acceptQueue(page) {
    if (page.revision < this.queueRev) return;
    this.queueRev = page.revision;
    this.app.queueView.render(page, this.snap);
  }

  refreshDevices() {
    this.coalesce('devices', async () => {
      this.app.devicesView.render(await api.get('/devices?limit=200'));
      if (this.snap) this.app.nowPlaying.renderSpeakerLine();
    });
  }
}
