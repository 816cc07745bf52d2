// The App: one signed-in tab. It builds the parts and wires each snapshot to them; every
// concern lives in its own module:
//
//   sync.js          state sync: the newest snapshot (revision rule), queue page, device list
//   commands.js      what a person asks: play, seek, queue edits, likes, speaker choice
//   router.js        #/… routes → the view shown
//   now-playing.js   the player: bar / mini-player, and the full-screen view at #/now
//   library-view.js, search-view.js, queue-view.js — the views; rows.js their rows and cards
//   devices-view.js  the "Connect to a device" sheet; pair-view.js "Add a speaker";
//   settings-view.js scrobble targets
//   connectivity.js  offline / server unreachable: the banner, controls disabled
//   topbar.js        connection indicator, account menu
//   media-session.js lock screen / media keys; notices.js "skipped a song that cannot be played"
//   keyboard.js      shortcuts and their help
//   speaker.js       the <audio> element, only while this tab is the active speaker
//   events.js        the SSE stream; device.js this tab's device (register, heartbeat)

import { api, ApiError } from './api.js';
import { clock } from './clock.js';
import { Commands } from './commands.js';
import { Connectivity } from './connectivity.js';
import { DevicesView } from './devices-view.js';
import { $ } from './dom.js';
import { EventStream } from './events.js';
import { bindKeyboard } from './keyboard.js';
import { AlbumPage, albumsSection, likedSection, songsSection } from './library-view.js';
import { ArtistPage, artistsSection, GenrePage, genresSection, recentSection } from './browse-view.js';
import { MediaSessionBridge } from './media-session.js';
import { Notices } from './notices.js';
import { NowPlayingView } from './now-playing.js';
import { PairView } from './pair-view.js';
import { QueueView } from './queue-view.js';
import { Router } from './router.js';
import { SearchView } from './search-view.js';
import { SettingsView } from './settings-view.js';
import { Speaker } from './speaker.js';
import { SessionSync } from './sync.js';
import { TopBar } from './topbar.js';

export class App {
  constructor(me, device) {
    this.me = me;
    this.device = device;
    this.disposers = [];

    this.sync = new SessionSync(this);
    this.commands = new Commands(this);
    this.speaker = new Speaker({
      audio: $('audio'),
      clock,
      deviceUuid: device.uuid,
      onSnapshot: (snap, timing) => this.sync.apply(snap, { timing }),
      onStatus: (status, message) => this.nowPlaying.speakerStatus(status, message),
      onResync: () => this.sync.resync(),
    });
    this.topBar = new TopBar(this);
    this.nowPlaying = new NowPlayingView(this);
    this.mediaSession = new MediaSessionBridge(this);
    this.notices = new Notices();
    this.connectivity = new Connectivity(this);
    this.queueView = new QueueView(this);
    this.searchView = new SearchView(this);
    this.devicesView = new DevicesView(this);
    this.router = new Router(this, {
      albums: { make: () => albumsSection(this) },
      artists: { make: () => artistsSection(this) },
      songs: { make: () => songsSection(this) },
      genres: { make: () => genresSection(this) },
      recent: { make: () => recentSection(this) },
      liked: { make: () => likedSection(this) },
      album: { make: (route) => new AlbumPage(this, route.arg), keyed: true },
      artist: { make: (route) => new ArtistPage(this, route.arg), keyed: true },
      genre: { make: (route) => new GenrePage(this, route.arg), keyed: true },
      search: { make: () => this.searchView },
      queue: { make: () => this.queueView },
      pair: { make: () => new PairView(this) },
      settings: { make: () => new SettingsView(this) },
    });
    this.events = new EventStream(
      device.uuid,
      (name, data, receivedAt) => this.sync.onEvent(name, data, receivedAt),
      (state) => this.connectionStatus(state),
      () => this.stillSignedIn(),
    );
    device.onRegistered = () => this.sync.refreshDevices();
  }

  /** Every snapshot the state sync accepts, in this order: draw, then follow with audio. */
  onSnapshot(prev, snap, type) {
    this.nowPlaying.render(prev, snap);
    this.mediaSession.update(prev, snap);
    this.speaker.update(snap, type);
    this.notices.update(snap);
    if (type === 'like') for (const view of this.router.views.values()) view.onLike?.();
    this.updateTitle();
  }

  /** The tab's title: the song while one plays, else the view. */
  updateTitle() {
    const snap = this.sync.snap;
    const track = snap?.track;
    if (track && snap.play_state === 'playing') document.title = `▶ ${track.title} · ${track.artist}`;
    else document.title = this.router.current?.view.title ? `${this.router.current.view.title} · US Playback` : 'US Playback';
  }

  // --- lifecycle -------------------------------------------------------------------------------

  async start() {
    const root = $('app');
    root.hidden = false;
    root.dataset.deviceUuid = this.device.uuid;
    this.bind();
    this.router.start();
    await this.sync.resync();
    this.events.start();
    this.device.startHeartbeat();
    this.sync.refreshQueue();
    this.sync.refreshDevices();
    this.devicesTimer = setInterval(() => this.sync.refreshDevices(), 10_000);
    this.nowPlaying.tick();
  }

  stop() {
    this.events.stop();
    this.device.stopHeartbeat();
    this.speaker.stop();
    this.sync.stop();
    this.nowPlaying.stop();
    this.connectivity.stop();
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    for (const view of this.router.views.values()) {
      view.destroy?.();
      view.el.remove();
    }
    clearInterval(this.devicesTimer);
    for (const dispose of this.disposers) dispose();
    this.disposers = [];
  }

  /** addEventListener that stop() undoes (a sign-out and sign-in builds a new App). */
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

  connectionStatus(state) {
    this.topBar.connectionStatus(state);
    this.connectivity.streamStatus(state);
    if (state === 'live' && this.sync.snap) this.sync.resyncSoon();
  }

  bind() {
    this.topBar.bind();
    this.connectivity.bind();
    this.nowPlaying.bind();
    this.devicesView.bind();
    SearchView.bindField(this);
    bindKeyboard(this);
    this.mediaSession.bind();

    this.listen(document, 'visibilitychange', () => {
      if (document.visibilityState === 'visible') {
        this.sync.resync();
        this.device.heartbeat();
        this.sync.refreshDevices();
      }
    });

    // A tab closing or reloading says it is leaving: the server waits US_LEAVE_GRACE_S for it
    // to come back (a reload does) before it counts as offline and a session it played pauses.
    // A page kept in the back/forward cache is gone too; when it is shown again it heartbeats.
    this.listen(window, 'pagehide', () => this.device.leave());
    this.listen(window, 'pageshow', (e) => {
      if (!e.persisted) return;
      this.device.heartbeat();
      this.device.startHeartbeat();
      this.sync.resync();
    });
  }
}
