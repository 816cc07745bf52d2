// Only the active speaker plays audio. This module owns the <audio> element of this tab.
//
// The session (from any event or command answer) says which device is the speaker, which track
// is current and where its timeline is. When this tab is the speaker it mints a media token for
// the current track, points the element at the token's URL, starts at the projected position and
// then follows every snapshot: a new track → a new token and source; a moved timeline (seek,
// restart, pause, play) → the element is aligned to the projection; volume → element volume.
// When another device becomes the speaker (or the track goes away) the element is emptied at
// once, which also closes its connection.
//
// Media tokens are short-lived and revoked by a speaker change. nginx checks the token when a
// request starts, so a running response survives expiry; a new request (a seek outside what is
// buffered, a resume after a long pause, a dropped connection) needs a valid token. So, while
// playing, a spare token is minted before the current one expires; a seek or resume that needs
// the network after expiry switches the source to the spare (a reload there is inaudible: the
// element would wait for data anyway); and any media error or stall (a 401/403 surfaces as one)
// mints a new token and reloads at the projected position — never from zero.
// When the element falls behind the timeline because it waited for data, what is audible is the
// truth: the speaker moves the shared timeline to it (POST /seek) instead of skipping ahead into
// data it does not have. When the element finishes a track, the speaker reports it (POST /ended).
//
// A track it cannot play is reported too (POST /failed), so the session marks the item failed
// and moves on, and every device says so: on a media error the speaker asks the same URL for
// one byte — 401/403 means the token died (a new one, same place, as above), 404/410 means the
// file is gone ("http 404"), an answer with data while the element failed means it cannot
// decode it ("decode error", after one reload with a new token: the element words a refused
// request mid-stream the same way). A refused mint for a track that is not there (404/409) is a
// failure too. Only errors it cannot classify are retried, and at most MAX_ERRORS times.

import { api, ApiError } from './api.js';
import { projectPosition, timelineMoved } from './clock.js';
import { uuid4 } from './dom.js';

const ALIGN_PAUSED_MS = 60; // paused: the element sits exactly where the timeline does
const ALIGN_MOVED_MS = 150; // playing, after a seek/restart: follow it
const START_LATE_MS = 250; // after a (re)start: catch up once if the start was this late
const DRIFT_LIMIT_MS = 1500; // playing: re-align when element and timeline drift this far apart
const DRIFT_COOLDOWN_MS = 5000;
const STALL_MS = 8000; // playing, yet neither the position moved nor data arrived: a dead request
const BUFFER_AHEAD_S = 1; // a position counts as buffered with this much data after it
const MAX_ERRORS = 4; // within ERROR_WINDOW_MS, then give up until the track changes
const ERROR_WINDOW_MS = 20_000;

export class Speaker {
  /**
   * @param {{audio: HTMLAudioElement, clock: import('./clock.js').ServerClock, deviceUuid: string,
   *          onSnapshot: (s: object, t: object) => void, onStatus: (s: string, msg?: string) => void,
   *          onResync: () => void}} options
   */
  constructor({ audio, clock, deviceUuid, onSnapshot, onStatus, onResync }) {
    this.audio = audio;
    this.clock = clock;
    this.deviceUuid = deviceUuid;
    this.onSnapshot = onSnapshot;
    this.onStatus = onStatus;
    this.onResync = onResync;

    this.snap = null;
    this.active = false;
    this.trackUuid = null; // the track the element's source (or the pending one) belongs to
    this.src = null; // {url, expiresAt, ttl} behind the element's current source
    this.spare = null; // a token minted ahead of the current one's expiry
    this.gen = 0; // bumped by every source change and stop: late async results are dropped
    this.loading = false;
    this.startCheck = false;
    this.refreshTimer = null;
    this.stallTimer = null;
    this.lastProgress = { mark: '', at: 0 };
    this.lastDataAt = 0;
    this.errorTimes = [];
    this.lastCorrectionAt = 0;
    this.endedKey = null;
    this.failedKey = null; // the track and revision a failure was reported for (once each)
    this.decodeRetried = null; // the track whose data answered while the element failed, retried once
    this.failed = false;
    this.stats = { mints: 0, reloads: 0, errors: 0, corrections: 0, reanchors: 0, failures: 0 };

    audio.addEventListener('loadedmetadata', () => this.onLoadedMetadata());
    audio.addEventListener('playing', () => this.onPlaying());
    audio.addEventListener('timeupdate', () => this.onTimeUpdate());
    audio.addEventListener('ended', () => this.onEnded());
    audio.addEventListener('error', () => this.onError());
    audio.addEventListener('progress', () => {
      this.lastDataAt = performance.now();
    });
  }

  get isSpeaker() {
    return this.active;
  }

  desiredMs() {
    return projectPosition(this.snap, this.clock.now());
  }

  // --- following the session ----------------------------------------------------------------

  /** Follow a snapshot; `type` is the event's message type when it came from one. */
  update(snap, type = null) {
    const prev = this.snap;
    this.snap = snap;
    const mine = snap.active_device_uuid === this.deviceUuid;
    if (!mine || !snap.track || snap.track.available === false) {
      this.stop();
      return;
    }
    this.active = true;
    this.audio.volume = Math.max(0, Math.min(1, (snap.volume_percent ?? 100) / 100));
    if (snap.track_uuid !== this.trackUuid) {
      this.loadTrack();
      return;
    }
    if (type === 'speaker' && this.src) {
      // A speaker message with us still the speaker: media tokens were rotated (revoked).
      this.spare = null;
      this.src.expiresAt = 0;
    }
    if (this.loading) return; // the pending source starts from the latest snapshot
    if (this.failed && snap.play_state === 'playing' && timelineMoved(prev, snap)) {
      // The person asks again (play, seek while playing): start over from a fresh source if the
      // element broke. (The session stopping on a failed item is not asking again.)
      this.failed = false;
      this.errorTimes = [];
      if (this.audio.error) {
        this.reload({ mint: true });
        return;
      }
    }
    this.follow(timelineMoved(prev, snap));
  }

  follow(moved) {
    if (this.failed) return;
    const audio = this.audio;
    const desired = this.desiredMs();
    const current = audio.currentTime * 1000;
    if (this.snap.play_state === 'playing') {
      this.keepTokenFresh();
      if (audio.paused || audio.ended) {
        // Resuming: if the element will need the network and its token is dead, reload now —
        // a short wait at a resume is expected, a gap later in the middle of the track is not.
        if (this.srcExpired() && !this.isBuffered(desired, true)) {
          this.reload({ mint: false });
          return;
        }
        if (Math.abs(current - desired) > ALIGN_PAUSED_MS || audio.ended) audio.currentTime = desired / 1000;
        this.startCheck = true;
        this.play();
      } else if (moved && Math.abs(current - desired) > ALIGN_MOVED_MS) {
        this.seekTo(desired);
      }
    } else {
      clearTimeout(this.refreshTimer);
      this.refreshTimer = null;
      if (!audio.paused) audio.pause();
      if (Math.abs(current - desired) > ALIGN_PAUSED_MS && !this.loading) this.seekTo(desired);
    }
  }

  seekTo(ms) {
    if (this.srcExpired() && !this.isBuffered(ms)) {
      this.reload({ mint: false });
      return;
    }
    this.startCheck = this.snap.play_state === 'playing';
    this.audio.currentTime = ms / 1000;
  }

  play() {
    const attempt = this.audio.play();
    if (!attempt) return;
    attempt.then(
      () => this.onStatus('ok'),
      (err) => {
        // NotAllowedError: autoplay policy (this tab was never touched). AbortError: a newer
        // source or a pause superseded this play() — nothing to do.
        if (err?.name === 'NotAllowedError' && this.active) this.onStatus('blocked');
      },
    );
  }

  /** After a user gesture on the "start audio here" banner. */
  unblock() {
    if (this.active && this.snap?.play_state === 'playing') {
      this.audio.currentTime = this.desiredMs() / 1000;
      this.play();
    }
  }

  stop() {
    const hadSource = this.audio.hasAttribute('src');
    this.gen += 1;
    this.active = false;
    this.trackUuid = null;
    this.src = null;
    this.spare = null;
    this.loading = false;
    this.failed = false;
    this.errorTimes = [];
    clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
    this.stopStallWatch();
    if (hadSource) {
      this.audio.pause();
      this.audio.removeAttribute('src');
      this.audio.load(); // drops buffered data and the open request
    }
    this.onStatus('idle');
  }

  // --- sources and tokens ---------------------------------------------------------------------

  async mint() {
    const snap = this.snap;
    const { data } = await api.timed('POST', `/sessions/${snap.session_uuid}/media-token`, {
      device_uuid: this.deviceUuid,
      track_uuid: this.trackUuid,
    });
    this.stats.mints += 1;
    const now = this.clock.now();
    return { url: data.url, expiresAt: data.expires_at, ttl: Math.max(1000, data.expires_at - now) };
  }

  spareUsable() {
    return this.spare && this.spare.expiresAt - this.clock.now() > 1500 ? this.spare : null;
  }

  srcExpired() {
    return !this.src || this.clock.now() > this.src.expiresAt - 500;
  }

  /** Is `ms` in a buffered range (with a little data after it, or all the way to the end)? */
  isBuffered(ms, toEnd = false) {
    const t = ms / 1000;
    const ranges = this.audio.buffered;
    const duration = Number.isFinite(this.audio.duration) ? this.audio.duration : Infinity;
    const needed = toEnd ? duration - 0.25 : Math.min(duration - 0.25, t + BUFFER_AHEAD_S);
    for (let i = 0; i < ranges.length; i += 1) {
      if (ranges.start(i) <= t && t <= ranges.end(i) && ranges.end(i) >= needed) return true;
    }
    return false;
  }

  async loadTrack() {
    this.trackUuid = this.snap.track_uuid;
    this.src = null;
    this.spare = null;
    this.failed = false;
    this.errorTimes = [];
    this.endedKey = null;
    await this.reload({ mint: true });
  }

  /** Point the element at a (new or spare) token's URL, at the projected position. */
  async reload({ mint }) {
    const gen = ++this.gen;
    let token = mint ? null : this.spareUsable();
    if (!token) {
      this.loading = true;
      if (!this.audio.paused) this.audio.pause();
      try {
        token = await this.mint();
      } catch (err) {
        if (gen !== this.gen) return;
        this.loading = false;
        this.mintFailed(err);
        return;
      }
      if (gen !== this.gen) return;
    }
    this.loading = false;
    this.spare = null;
    this.attach(token);
  }

  attach(token) {
    this.stats.reloads += 1;
    this.src = token;
    const audio = this.audio;
    audio.src = token.url;
    // Before metadata this is the start position; loadedmetadata re-aligns to the projection.
    audio.currentTime = this.desiredMs() / 1000;
    this.pendingAlign = true;
    this.lastProgress = { mark: '', at: performance.now() };
    this.startStallWatch();
    if (this.snap.play_state === 'playing') {
      this.startCheck = true;
      this.keepTokenFresh(true);
      this.play();
    }
  }

  mintFailed(err) {
    if (err instanceof ApiError && err.status === 403) {
      // Not the speaker any more (the event is on its way) — make sure we know.
      this.onResync();
      return;
    }
    if (err instanceof ApiError && (err.status === 404 || err.status === 409)) {
      // The catalog says the track is not there (or its file is gone): the session moves on.
      this.reportFailure(err.status === 404 ? 'track not found' : 'the file is gone');
      return;
    }
    // Network trouble or a rate limit: try again shortly, for the same source.
    const gen = this.gen;
    const waitMs = err instanceof ApiError && err.retryAfter ? Number(err.retryAfter) * 1000 : 1500;
    setTimeout(() => {
      if (gen === this.gen && this.active) this.reload({ mint: true });
    }, waitMs);
  }

  /** While playing, keep a spare token so a seek or an error never waits for an expired one. */
  keepTokenFresh(reset = false) {
    if (this.refreshTimer && !reset) return;
    clearTimeout(this.refreshTimer);
    const newest = this.spare && (!this.src || this.spare.expiresAt > this.src.expiresAt) ? this.spare : this.src;
    if (!newest) return;
    const margin = Math.min(15_000, Math.max(1000, newest.ttl * 0.3));
    const delay = Math.max(250, newest.expiresAt - margin - this.clock.now());
    const gen = this.gen;
    this.refreshTimer = setTimeout(async () => {
      this.refreshTimer = null;
      if (gen !== this.gen || !this.active || this.snap.play_state !== 'playing') return;
      try {
        const token = await this.mint();
        if (gen !== this.gen) return;
        this.spare = token;
      } catch (err) {
        if (err instanceof ApiError && err.status === 403) {
          this.onResync();
          return;
        }
      }
      if (gen === this.gen) this.keepTokenFresh();
    }, delay);
  }

  // --- element events -------------------------------------------------------------------------

  onLoadedMetadata() {
    if (!this.active || !this.pendingAlign) return;
    this.pendingAlign = false;
    // The token round trip and the first bytes took a moment; the timeline moved on meanwhile.
    const desired = this.desiredMs();
    if (Math.abs(this.audio.currentTime * 1000 - desired) > ALIGN_PAUSED_MS) this.audio.currentTime = desired / 1000;
  }

  onPlaying() {
    if (!this.active) return;
    this.decodeRetried = null;
    this.onStatus('ok');
    this.startStallWatch();
    if (!this.startCheck) return;
    this.startCheck = false;
    if (this.snap.play_state !== 'playing') return;
    const desired = this.desiredMs();
    const current = this.audio.currentTime * 1000;
    if (Math.abs(desired - current) <= START_LATE_MS) return;
    if (this.isBuffered(desired)) {
      this.stats.corrections += 1;
      this.audio.currentTime = desired / 1000;
    } else if (Math.abs(desired - current) > DRIFT_LIMIT_MS) {
      this.reanchor(current);
    }
  }

  onTimeUpdate() {
    const audio = this.audio;
    if (!this.active || this.loading || audio.paused || audio.seeking || audio.readyState < 3) return;
    if (this.snap.play_state !== 'playing') return;
    const now = performance.now();
    if (now - this.lastCorrectionAt < DRIFT_COOLDOWN_MS) return;
    const desired = this.desiredMs();
    const current = audio.currentTime * 1000;
    if (Math.abs(current - desired) <= DRIFT_LIMIT_MS) return;
    this.lastCorrectionAt = now;
    if (this.isBuffered(desired)) {
      this.stats.corrections += 1;
      audio.currentTime = desired / 1000;
    } else {
      this.reanchor(current);
    }
  }

  /** Move the shared timeline to what this speaker really plays (it fell behind, buffering). */
  reanchor(positionMs) {
    const snap = this.snap;
    if (!snap?.track) return;
    this.stats.reanchors = (this.stats.reanchors ?? 0) + 1;
    this.lastCorrectionAt = performance.now();
    const body = {
      position_ms: Math.max(0, Math.min(Math.round(positionMs), snap.track.duration_ms)),
      device_uuid: this.deviceUuid,
      client_event_uuid: uuid4(),
    };
    api
      .timed('POST', `/sessions/${snap.session_uuid}/seek`, body)
      .then((timing) => this.onSnapshot(timing.data, timing))
      .catch(() => this.onResync());
  }

  onEnded() {
    if (!this.active || !this.snap || this.snap.track_uuid !== this.trackUuid) return;
    const key = `${this.trackUuid}:${this.snap.revision}`;
    if (this.endedKey === key) return;
    this.endedKey = key;
    this.stopStallWatch();
    const body = { track_uuid: this.trackUuid, device_uuid: this.deviceUuid, client_event_uuid: uuid4() };
    api
      .timed('POST', `/sessions/${this.snap.session_uuid}/ended`, body)
      .then((timing) => this.onSnapshot(timing.data, timing))
      .catch(() => this.onResync());
  }

  onError() {
    if (!this.active || !this.src || !this.audio.hasAttribute('src')) return;
    this.stats.errors += 1;
    const now = performance.now();
    this.errorTimes = this.errorTimes.filter((t) => now - t < ERROR_WINDOW_MS);
    this.errorTimes.push(now);
    if (this.errorTimes.length > MAX_ERRORS) {
      this.failed = true;
      this.stopStallWatch();
      this.onStatus('error', 'Playback keeps failing on this device.');
      return;
    }
    this.diagnose(this.audio.error?.code ?? 0);
  }

  /** Why did the element fail? Ask the server for one byte of the same URL. */
  async diagnose(code) {
    const gen = this.gen;
    const url = this.src?.url;
    let status = 0;
    try {
      const answer = await fetch(url, { headers: { Range: 'bytes=0-0' }, cache: 'no-store', credentials: 'same-origin' });
      status = answer.status;
      answer.body?.cancel().catch(() => {});
    } catch {
      status = 0; // no network: a new token will not help either, but a retry later may
    }
    if (gen !== this.gen || !this.active) return;
    if (status === 404 || status === 410) {
      this.reportFailure(`http ${status}`);
    } else if (status >= 200 && status < 300 && (code === MediaError.MEDIA_ERR_DECODE || code === MediaError.MEDIA_ERR_SRC_NOT_SUPPORTED)) {
      // The element reports a refused or cut request mid-stream as "not supported" too, and
      // the refusal may be gone by the time the probe asks: one reload with a new token first;
      // failing again before it plays means the file itself cannot be decoded.
      if (this.decodeRetried === this.trackUuid) {
        this.reportFailure('decode error');
      } else {
        this.decodeRetried = this.trackUuid;
        this.reload({ mint: true });
      }
    } else {
      // Most likely the token expired or was revoked under a new request: a new one, same place.
      this.reload({ mint: true });
    }
  }

  /** Tell the session this track cannot be played here; it marks the item and moves on. */
  reportFailure(reason) {
    const snap = this.snap;
    if (!this.active || !snap || snap.track_uuid !== this.trackUuid) return;
    const key = `${this.trackUuid}:${snap.revision}`;
    if (this.failedKey === key) return;
    this.failedKey = key;
    this.failed = true; // until the session moves on (a new track, or the person asks again)
    this.stats.failures += 1;
    this.stopStallWatch();
    if (!this.audio.paused) this.audio.pause();
    const body = { track_uuid: this.trackUuid, device_uuid: this.deviceUuid, reason, client_event_uuid: uuid4() };
    api
      .timed('POST', `/sessions/${snap.session_uuid}/failed`, body)
      .then((timing) => this.onSnapshot(timing.data, timing))
      .catch(() => this.onResync());
  }

  startStallWatch() {
    if (this.stallTimer) return;
    this.stallTimer = setInterval(() => {
      const audio = this.audio;
      // Progress is the position moving or data arriving ('progress' events): a slow link is no stall.
      const mark = `${audio.currentTime}|${audio.src}`;
      const now = performance.now();
      if (!this.active || this.loading || this.snap.play_state !== 'playing' || audio.paused || audio.ended || mark !== this.lastProgress.mark) {
        this.lastProgress = { mark, at: now };
        return;
      }
      if (now - this.lastProgress.at > STALL_MS && now - this.lastDataAt > STALL_MS) {
        this.lastProgress = { mark, at: now };
        this.onError();
      }
    }, 1000);
  }

  stopStallWatch() {
    clearInterval(this.stallTimer);
    this.stallTimer = null;
  }
}
