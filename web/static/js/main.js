// The web player: login, then one App per signed-in tab. The App keeps the latest session
// snapshot (from command answers, SSE events and resyncs — whichever revision is newest), draws
// it, and hands it to the Speaker, which plays audio only while this tab is the active speaker.

import { api, ApiError } from './api.js';
import { clock, localNow, projectPosition } from './clock.js';
import { claimDevice, Device } from './device.js';
import { $, formatTime, toast, uuid4 } from './dom.js';
import { EventStream } from './events.js';
import { icons } from './icons.js';
import { Speaker } from './speaker.js';
import { DevicesView, LibraryView, QueueView } from './views.js';

const SEEK_STEP_MS = 10_000;
const REPEAT_NEXT = { off: 'all', all: 'one', one: 'off' };
const REPEAT_LABEL = { off: 'Repeat: off', all: 'Repeat: all', one: 'Repeat: one' };

class App {
  constructor(me, device) {
    this.me = me;
    this.device = device;
    this.snap = null;
    this.rev = 0; // the newest revision applied (events with rev <= this are dropped)
    this.queueRev = -1;
    this.dragging = false;
    this.pendingSeek = null; // {ms, until}: the bar shows where we seeked until the answer lands
    this.volumeHeldUntil = 0;
    this.coverTrack = null;
    this.coverOk = false;
    this.tickHandle = 0;
    this.inflight = { queue: null, devices: null };
    this.again = { queue: false, devices: false };
    this.disposers = [];

    this.audio = $('audio');
    this.speaker = new Speaker({
      audio: this.audio,
      clock,
      deviceUuid: device.uuid,
      onSnapshot: (snap, timing) => this.applySnapshot(snap, { timing }),
      onStatus: (status, message) => this.speakerStatus(status, message),
      onResync: () => this.resync(),
    });
    this.queueView = new QueueView(this);
    this.libraryView = new LibraryView(this);
    this.devicesView = new DevicesView(this);
    this.events = new EventStream(
      device.uuid,
      (name, data, receivedAt) => this.onEvent(name, data, receivedAt),
      (state) => this.connectionStatus(state),
      () => this.stillSignedIn(),
    );
    device.onRegistered = () => this.refreshDevices();
  }

  // --- lifecycle -------------------------------------------------------------------------------

  async start() {
    const root = $('app');
    root.hidden = false;
    root.dataset.deviceUuid = this.device.uuid;
    $('me-name').textContent = this.me.username;
    $('device-name').value = this.device.name;
    this.bindControls();
    await this.resync();
    this.events.start();
    this.device.startHeartbeat();
    this.refreshQueue();
    this.refreshDevices();
    this.devicesTimer = setInterval(() => this.refreshDevices(), 10_000);
    this.tick();
  }

  stop() {
    this.events.stop();
    this.device.stopHeartbeat();
    this.speaker.stop();
    clearInterval(this.devicesTimer);
    cancelAnimationFrame(this.tickHandle);
    for (const dispose of this.disposers) dispose();
    this.disposers = [];
  }

  listen(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    this.disposers.push(() => target.removeEventListener(type, handler, options));
  }

  async stillSignedIn() {
    try {
      await api.get('/users/me');
      return true;
    } catch (err) {
      return !(err instanceof ApiError && err.status === 401);
    }
  }

  // --- the session -----------------------------------------------------------------------------

  async resync() {
    this.resyncing = true;
    try {
      const timing = await api.timed('GET', `/sessions/${this.me.user_uuid}`);
      this.applySnapshot(timing.data, { timing, force: true });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) this.showError(err);
    } finally {
      this.resyncing = false;
    }
  }

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
    this.applySnapshot(session, { rev: data.rev, type: data.type });
  }

  /** Draw a snapshot if it is newer than what we have; `timing` from our own request. */
  applySnapshot(snap, { rev = snap.revision, type = null, timing = null, force = false } = {}) {
    if (timing) clock.observe(snap.server_time_ms, timing.receivedAt, timing.sentAt);
    if (rev < this.rev || (rev === this.rev && !force)) return;
    const prev = this.snap;
    // Every change bumps the revision by one: a gap means messages were lost (the gateway drops
    // the oldest when a client lags), and with them maybe a queue or device change.
    const gap = prev !== null && rev > this.rev + 1;
    this.rev = rev;
    this.snap = snap;
    this.pendingSeek = null;
    this.render(prev, snap);
    this.speaker.update(snap, type);
    if (
      type === 'queue' ||
      gap ||
      !prev ||
      prev.queue_length !== snap.queue_length ||
      prev.queue_position !== snap.queue_position ||
      prev.shuffle !== snap.shuffle
    ) {
      if (prev) this.refreshQueue();
    } else if (this.queueView.page) {
      this.queueView.render(null, snap);
    }
    if (type === 'speaker' || gap || !prev || prev.active_device_uuid !== snap.active_device_uuid) this.refreshDevices();
  }

  // --- commands --------------------------------------------------------------------------------

  async command(name, body = {}) {
    if (!this.snap) return null;
    const payload = { ...body, client_event_uuid: uuid4() };
    if (name !== 'speaker' && payload.device_uuid === undefined) payload.device_uuid = this.device.uuid;
    const path = name === 'speaker' ? `/sessions/${this.me.user_uuid}/speaker` : `/sessions/${this.snap.session_uuid}/${name}`;
    try {
      const timing = await api.timed('POST', path, payload);
      this.applySnapshot(timing.data, { timing });
      return timing.data;
    } catch (err) {
      this.showError(err);
      return null;
    }
  }

  togglePlay() {
    if (!this.snap) return;
    if (this.snap.play_state === 'playing') this.command('pause');
    else if (this.snap.actions.play || this.snap.queue_length) this.command('play');
  }

  seekBy(deltaMs) {
    const snap = this.snap;
    if (!snap?.track || !snap.actions.seek) return;
    const target = Math.max(0, Math.min(snap.track.duration_ms - 1, this.positionNow() + deltaMs));
    this.seekTo(target);
  }

  seekTo(ms) {
    this.pendingSeek = { ms, until: performance.now() + 2000 };
    this.command('seek', { position_ms: Math.round(ms) });
  }

  chooseSpeaker(deviceUuid) {
    return this.command('speaker', { device_uuid: deviceUuid });
  }

  async forgetDevice(device) {
    try {
      await api.delete(`/devices/${device.device_uuid}`);
      toast(`Forgot “${device.device_name}”`);
    } catch (err) {
      this.showError(err);
    }
    this.refreshDevices();
  }

  playTrack(track) {
    return this.command('play', { track_uuid: track.track_uuid });
  }

  async playAlbum(album) {
    // Playing an album replaces the queue with it (its first track becomes current), then plays.
    const page = await this.queueCommand('POST', '/queue/enqueue', { album_uuid: album.album_uuid, replace: true, position: 'end' });
    if (page) await this.command('play');
  }

  async enqueue(body, message) {
    const page = await this.queueCommand('POST', '/queue/enqueue', body);
    if (page) toast(message);
  }

  /** Queue edits answer with the queue's first page; the session follows by event. */
  async queueCommand(method, path, body) {
    try {
      const withSender = body ? { ...body, device_uuid: this.device.uuid, client_event_uuid: uuid4() } : undefined;
      const page = await api.request(method, path, withSender);
      if (page && typeof page.revision === 'number') this.renderQueue(page);
      return page ?? true;
    } catch (err) {
      this.showError(err);
      return null;
    }
  }

  async like() {
    const track = this.snap?.track;
    if (!track) return;
    const liked = !track.liked;
    this.renderLike(liked); // optimistic; the like event settles it
    try {
      await api.request(liked ? 'POST' : 'DELETE', `/tracks/${track.track_uuid}/like`);
    } catch (err) {
      this.renderLike(track.liked);
      this.showError(err);
    }
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
    this.coalesce('queue', async () => this.renderQueue(await api.get('/queue?limit=200')));
  }

  renderQueue(page) {
    if (page.revision < this.queueRev) return;
    this.queueRev = page.revision;
    this.queueView.render(page, this.snap);
  }

  refreshDevices() {
    this.coalesce('devices', async () => {
      this.devicesView.render(await api.get('/devices?limit=200'));
      if (this.snap) this.renderSpeakerLine();
    });
  }

  // --- drawing ---------------------------------------------------------------------------------

  positionNow() {
    return projectPosition(this.snap, clock.now());
  }

  render(prev, snap) {
    const root = $('app');
    const track = snap.track;
    const mine = snap.active_device_uuid === this.device.uuid;
    root.dataset.playState = snap.play_state;
    root.dataset.trackUuid = snap.track_uuid ?? '';
    root.dataset.rev = String(snap.revision);
    root.dataset.speaker = String(mine);
    root.dataset.activeDevice = snap.active_device_uuid ?? '';

    $('np-title').textContent = track ? track.title : 'Nothing playing';
    $('np-artist').textContent = track ? track.artist : 'Pick something from the library';
    $('np-album').textContent = track ? track.album : '';
    $('np-sep').hidden = !track || !track.album;
    $('np-duration').textContent = formatTime(track?.duration_ms ?? 0);
    document.title = track ? `${snap.play_state === 'playing' ? '▶ ' : ''}${track.title} · ${track.artist}` : 'US Playback';
    if ((track?.track_uuid ?? null) !== this.coverTrack) this.renderCover(track);

    this.renderLike(track?.liked ?? false, !track);
    const playing = snap.play_state === 'playing';
    const play = $('btn-play');
    play.innerHTML = playing ? icons.pause : icons.play;
    play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    play.dataset.state = playing ? 'playing' : 'paused';
    play.disabled = playing ? !snap.actions.pause : !snap.actions.play;
    $('btn-next').disabled = !snap.actions.next;
    $('btn-prev').disabled = !snap.actions.prev;
    const progress = $('progress');
    progress.disabled = !snap.actions.seek;
    progress.max = String(track?.duration_ms ?? 1);

    const shuffle = $('btn-shuffle');
    shuffle.setAttribute('aria-pressed', String(snap.shuffle));
    const repeat = $('btn-repeat');
    repeat.dataset.mode = snap.repeat_mode;
    repeat.setAttribute('aria-label', REPEAT_LABEL[snap.repeat_mode]);
    repeat.title = REPEAT_LABEL[snap.repeat_mode];
    repeat.setAttribute('aria-pressed', String(snap.repeat_mode !== 'off'));

    if (performance.now() > this.volumeHeldUntil) $('volume').value = String(snap.volume_percent);
    this.renderVolume();

    this.renderSpeakerLine();
    this.updateMediaSession(prev, snap);
    this.drawProgress();
  }

  renderLike(liked, disabled = false) {
    const btn = $('btn-like');
    btn.innerHTML = liked ? icons.heartFilled : icons.heart;
    btn.setAttribute('aria-pressed', String(liked));
    btn.setAttribute('aria-label', liked ? 'Unlike' : 'Like');
    btn.disabled = disabled;
  }

  renderVolume() {
    const value = Number($('volume').value);
    $('volume-icon').innerHTML = value === 0 ? icons.mute : icons.volume;
    $('volume').style.setProperty('--fill', `${value}%`);
  }

  renderCover(track) {
    this.coverTrack = track?.track_uuid ?? null;
    this.coverOk = false;
    const img = $('np-cover');
    const fallback = $('np-cover-fallback');
    img.hidden = true;
    fallback.hidden = false;
    fallback.innerHTML = icons.note;
    if (!track) {
      img.removeAttribute('src');
      return;
    }
    const wanted = track.track_uuid;
    img.onload = () => {
      if (this.coverTrack !== wanted) return;
      this.coverOk = true;
      img.hidden = false;
      fallback.hidden = true;
      this.updateMediaSession(null, this.snap);
    };
    img.onerror = () => {
      if (this.coverTrack !== wanted) return;
      img.hidden = true; // no embedded art: the placeholder stays
    };
    img.src = `/tracks/${wanted}/cover`;
  }

  renderSpeakerLine() {
    const snap = this.snap;
    const mine = snap.active_device_uuid === this.device.uuid;
    const speaker = this.devicesView.devices.find((d) => d.device_uuid === snap.active_device_uuid);
    let label;
    if (!snap.active_device_uuid) label = 'No speaker chosen';
    else if (mine) label = 'Playing on this device';
    else label = `Playing on ${speaker ? speaker.device_name : 'another device'}`;
    $('speaker-label').textContent = label;
    $('speaker-line').classList.toggle('is-mine', mine);
    $('btn-play-here').hidden = mine || !snap.track;
  }

  speakerStatus(status, message) {
    $('audio-blocked').hidden = status !== 'blocked';
    if (status === 'error' && message) toast(message, 'error', 6000);
  }

  connectionStatus(state) {
    const el = $('conn');
    el.dataset.state = state;
    $('conn-label').textContent = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…' }[state] ?? state;
    if (state === 'live' && this.snap) this.resyncSoon();
  }

  resyncSoon() {
    // After a reconnect the stream may start without a snapshot (Last-Event-ID was current).
    clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      this.resync();
      this.refreshDevices();
    }, 250);
  }

  tick() {
    this.drawProgress();
    this.tickHandle = requestAnimationFrame(() => this.tick());
  }

  drawProgress() {
    const snap = this.snap;
    if (!snap) return;
    const duration = snap.track?.duration_ms ?? 0;
    let position = this.positionNow();
    if (this.pendingSeek) {
      if (performance.now() < this.pendingSeek.until) position = this.pendingSeek.ms;
      else this.pendingSeek = null;
    }
    const progress = $('progress');
    if (!this.dragging) {
      progress.value = String(Math.round(position));
      progress.dataset.positionMs = String(Math.round(position));
      const text = formatTime(position);
      if (text !== this.positionText) {
        this.positionText = text;
        $('np-position').textContent = text;
        progress.setAttribute('aria-valuetext', `${text} of ${formatTime(duration)}`);
      }
    }
    const shown = this.dragging ? Number(progress.value) : position;
    progress.style.setProperty('--fill', `${duration ? (100 * shown) / duration : 0}%`);
  }

  // --- media session (OS media keys, headsets, lock screens) ------------------------------------

  updateMediaSession(prev, snap) {
    if (!('mediaSession' in navigator) || !snap) return;
    const ms = navigator.mediaSession;
    const track = snap.track;
    if (!track) {
      ms.metadata = null;
      ms.playbackState = 'none';
      return;
    }
    if (!prev || prev.track_uuid !== snap.track_uuid || prev.track?.liked !== track.liked || !ms.metadata || this.coverOk) {
      const artwork = this.coverOk ? [{ src: new URL(`/tracks/${track.track_uuid}/cover`, location.href).href, sizes: '512x512' }] : [];
      try {
        ms.metadata = new MediaMetadata({ title: track.title, artist: track.artist, album: track.album, artwork });
      } catch {
        /* MediaMetadata unsupported */
      }
    }
    ms.playbackState = snap.play_state === 'playing' ? 'playing' : 'paused';
    try {
      ms.setPositionState({
        duration: Math.max(track.duration_ms / 1000, 0.001),
        playbackRate: 1,
        position: Math.min(projectPosition(snap, clock.now()), track.duration_ms) / 1000,
      });
    } catch {
      /* older browsers */
    }
  }

  bindMediaSession() {
    if (!('mediaSession' in navigator)) return;
    const handlers = {
      play: () => this.command('play'),
      pause: () => this.command('pause'),
      stop: () => this.command('pause'),
      nexttrack: () => this.snap?.actions.next && this.command('next'),
      previoustrack: () => this.snap?.actions.prev && this.command('prev'),
      seekbackward: (d) => this.seekBy(-(d?.seekOffset ? d.seekOffset * 1000 : SEEK_STEP_MS)),
      seekforward: (d) => this.seekBy(d?.seekOffset ? d.seekOffset * 1000 : SEEK_STEP_MS),
      seekto: (d) => typeof d?.seekTime === 'number' && this.seekTo(d.seekTime * 1000),
    };
    for (const [action, handler] of Object.entries(handlers)) {
      try {
        navigator.mediaSession.setActionHandler(action, handler);
      } catch {
        /* action not supported here */
      }
    }
  }

  // --- controls ----------------------------------------------------------------------------------

  bindControls() {
    this.listen($('btn-play'), 'click', () => this.togglePlay());
    this.listen($('btn-next'), 'click', () => this.command('next'));
    this.listen($('btn-prev'), 'click', () => this.command('prev'));
    this.listen($('btn-shuffle'), 'click', () => this.snap && this.command('options', { shuffle: !this.snap.shuffle }));
    this.listen($('btn-repeat'), 'click', () => this.snap && this.command('options', { repeat_mode: REPEAT_NEXT[this.snap.repeat_mode] }));
    this.listen($('btn-like'), 'click', () => this.like());
    this.listen($('btn-play-here'), 'click', () => this.chooseSpeaker(this.device.uuid));
    this.listen($('audio-unblock'), 'click', () => this.speaker.unblock());
    $('btn-shuffle').innerHTML = icons.shuffle;
    $('btn-repeat').innerHTML = icons.repeat;
    $('btn-next').innerHTML = icons.next;
    $('btn-prev').innerHTML = icons.prev;
    $('btn-play').innerHTML = icons.play;
    document.querySelector('.speaker-icon').innerHTML = icons.speaker;
    document.querySelector('.device-name-icon').innerHTML = icons.edit;

    // Seek by dragging: the bar follows the finger; the seek is sent on release.
    const progress = $('progress');
    const startDrag = () => { this.dragging = true; };
    this.listen(progress, 'pointerdown', startDrag);
    this.listen(progress, 'input', () => {
      this.dragging = true;
      this.positionText = null;
      $('np-position').textContent = formatTime(Number(progress.value));
      this.drawProgress();
    });
    this.listen(progress, 'change', () => {
      this.dragging = false;
      this.seekTo(Number(progress.value));
    });
    this.listen(progress, 'pointercancel', () => { this.dragging = false; });

    // Volume: sent while dragging (throttled) and on release; the slider ignores echoes meanwhile.
    const volume = $('volume');
    let volumeTimer = null;
    const sendVolume = () => {
      volumeTimer = null;
      this.command('volume', { volume_percent: Number(volume.value) });
    };
    this.listen(volume, 'input', () => {
      this.volumeHeldUntil = performance.now() + 1500;
      this.renderVolume();
      if (!volumeTimer) volumeTimer = setTimeout(sendVolume, 150);
    });

    // Device name: saved on Enter or when the field loses focus.
    const name = $('device-name');
    const saveName = async () => {
      try {
        if (await this.device.rename(name.value)) {
          toast('Device renamed');
          this.refreshDevices();
        }
      } catch (err) {
        this.showError(err);
      }
      name.value = this.device.name;
    };
    this.listen(name, 'change', saveName);
    this.listen(name, 'keydown', (e) => {
      if (e.key === 'Enter') name.blur();
      if (e.key === 'Escape') { name.value = this.device.name; name.blur(); }
    });

    // Tabs
    const tabs = { queue: [$('tab-queue'), $('queue-panel')], library: [$('tab-library'), $('library-panel')] };
    for (const [key, [tab]] of Object.entries(tabs)) {
      this.listen(tab, 'click', () => {
        for (const [other, [t, panel]] of Object.entries(tabs)) {
          t.setAttribute('aria-selected', String(other === key));
          panel.hidden = other !== key;
        }
        if (key === 'library') this.libraryView.ensureLoaded();
      });
    }

    // Keyboard: space toggles, arrows seek ±10 s — unless typing in a field.
    const typing = (el) => el instanceof HTMLElement && (el.isContentEditable || (el.tagName === 'INPUT' && !['range', 'checkbox', 'button'].includes(el.type)) || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT');
    this.listen(document, 'keydown', (e) => {
      if (e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      if (e.target === volume && e.key !== ' ') return; // arrows move the volume there
      if (e.key === ' ' || e.code === 'Space') {
        e.preventDefault();
        if (!e.repeat) this.togglePlay();
      } else if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        e.preventDefault();
        this.seekBy(e.key === 'ArrowLeft' ? -SEEK_STEP_MS : SEEK_STEP_MS);
      }
    }, true);
    // A focused button would also "click" on the space key's release.
    this.listen(document, 'keyup', (e) => {
      if ((e.key === ' ' || e.code === 'Space') && !typing(e.target)) e.preventDefault();
    }, true);

    this.listen(document, 'visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        this.resync();
        this.device.heartbeat();
        this.refreshDevices();
      }
    });

    // Closing the speaker's tab stops the audio, so say so (keepalive survives the unload).
    this.listen(window, 'pagehide', (e) => {
      if (e.persisted || !this.snap || !this.speaker.isSpeaker || this.snap.play_state !== 'playing') return;
      fetch(`/sessions/${this.snap.session_uuid}/pause`, {
        method: 'POST',
        keepalive: true,
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'us-web' },
        body: JSON.stringify({ device_uuid: this.device.uuid, client_event_uuid: uuid4() }),
      }).catch(() => {});
    });

    this.bindMediaSession();
  }

  showError(err) {
    if (err instanceof ApiError && err.status === 401) return; // the login form takes over
    toast(err?.message || String(err), 'error', 5000);
  }
}

// --- boot: who am I, else the login form --------------------------------------------------------

let app = null;

function showLogin(message = '') {
  if (app) {
    app.stop();
    app = null;
  }
  $('app').hidden = true;
  $('login-view').hidden = false;
  const error = $('login-error');
  error.textContent = message;
  error.hidden = !message;
  $('login-password').value = '';
  ($('login-username').value ? $('login-password') : $('login-username')).focus();
}

async function startApp(me) {
  $('login-view').hidden = true;
  const entry = await claimDevice(me.user_uuid);
  const device = new Device(me.user_uuid, entry);
  await device.register();
  app = new App(me, device);
  await app.start();
}

let unauthorizedShown = false;
api.onUnauthorized = () => {
  if (unauthorizedShown || !app) return;
  unauthorizedShown = true;
  showLogin('Your session ended. Please sign in again.');
};

async function boot() {
  $('login-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const submit = $('login-submit');
    submit.disabled = true;
    try {
      const me = await api.post('/auth/session', {
        username: $('login-username').value.trim(),
        password: $('login-password').value,
      });
      unauthorizedShown = false;
      await startApp(me);
    } catch (err) {
      const message =
        err instanceof ApiError && err.status === 401 ? 'Wrong username or password.'
          : err instanceof ApiError && err.status === 429 ? 'Too many attempts. Wait a minute and try again.'
            : err?.message || 'Sign-in failed.';
      showLogin(message);
    } finally {
      submit.disabled = false;
    }
  });
  $('logout').addEventListener('click', async () => {
    if (app?.speaker.isSpeaker && app.snap?.play_state === 'playing') await app.command('pause');
    try {
      await api.delete('/auth/session');
    } catch {
      /* the cookie is cleared or already gone either way */
    }
    showLogin();
  });

  let me;
  try {
    me = await api.get('/users/me');
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? '' : 'The server is not answering. Try again shortly.');
    return;
  }
  try {
    await startApp(me);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) showLogin(err?.message || 'Could not start.');
  }
}

// Readable state for debugging and tests (no secrets: the token is in an HttpOnly cookie).
window.usPlayer = {
  get state() {
    if (!app) return null;
    return {
      rev: app.rev,
      snapshot: app.snap,
      positionMs: app.snap ? projectPosition(app.snap, clock.now()) : 0,
      localNow: localNow(),
      offsetMs: clock.offsetMs,
      isSpeaker: app.speaker.isSpeaker,
      deviceUuid: app.device.uuid,
      speaker: { ...app.speaker.stats, src: app.speaker.src ? { expiresAt: app.speaker.src.expiresAt } : null },
    };
  },
};

boot();
