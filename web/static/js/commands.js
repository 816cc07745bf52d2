// Commands: everything a person can ask of the session, the queue, likes and devices.
//
// Session commands carry this device as the sender (`device_uuid`) and a fresh
// `client_event_uuid` (a retried request changes nothing twice); their answer is a snapshot,
// handed to the state sync like any event. Queue edits answer with the queue's first page; the
// session follows by event. Failures are shown, never thrown.

import { api } from './api.js';
import { clock, projectPosition } from './clock.js';
import { toast, uuid4 } from './dom.js';
import { showError } from './errors.js';

export const SEEK_STEP_MS = 10_000;
const REPEAT_NEXT = { off: 'all', all: 'one', one: 'off' };

// What each command is, for "Couldn't <what>: <why>".
const WHAT = {
  play: 'play',
  pause: 'pause',
  toggle: 'play or pause',
  next: 'skip to the next song',
  prev: 'go back a song',
  seek: 'move in the song',
  options: 'change shuffle or repeat',
  volume: 'change the volume',
  speaker: 'switch the speaker',
};

export class Commands {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
  }

  get snap() {
    return this.app.sync.snap;
  }

  async command(name, body = {}) {
    const snap = this.snap;
    if (!snap) return null;
    const { me, device } = this.app;
    const payload = { ...body, client_event_uuid: uuid4() };
    if (name !== 'speaker' && payload.device_uuid === undefined) payload.device_uuid = device.uuid;
    const path = name === 'speaker' ? `/sessions/${me.user_uuid}/speaker` : `/sessions/${snap.session_uuid}/${name}`;
    try {
      const timing = await api.timed('POST', path, payload);
      this.app.sync.apply(timing.data, { timing });
      return timing.data;
    } catch (err) {
      showError(err, WHAT[name]);
      return null;
    }
  }

  // --- playback --------------------------------------------------------------------------------

  togglePlay() {
    const snap = this.snap;
    if (!snap) return;
    if (snap.play_state === 'playing') this.command('pause');
    else if (snap.actions.play || snap.queue_length) this.command('play');
  }

  play() {
    return this.command('play');
  }

  pause() {
    return this.command('pause');
  }

  next() {
    if (this.snap?.actions.next) this.command('next');
  }

  prev() {
    if (this.snap?.actions.prev) this.command('prev');
  }

  positionNow() {
    return projectPosition(this.snap, clock.now());
  }

  seekBy(deltaMs) {
    const snap = this.snap;
    if (!snap?.track || !snap.actions.seek) return;
    const target = Math.max(0, Math.min(snap.track.duration_ms - 1, this.positionNow() + deltaMs));
    this.seekTo(target);
  }

  seekTo(ms) {
    this.app.nowPlaying.holdSeek(ms); // the bar shows where we seeked until the answer lands
    this.command('seek', { position_ms: Math.round(ms) });
  }

  toggleShuffle() {
    if (this.snap) this.command('options', { shuffle: !this.snap.shuffle });
  }

  cycleRepeat() {
    if (this.snap) this.command('options', { repeat_mode: REPEAT_NEXT[this.snap.repeat_mode] });
  }

  setVolume(percent) {
    return this.command('volume', { volume_percent: percent });
  }

  playTrack(track) {
    return this.command('play', { track_uuid: track.track_uuid });
  }

  playItem(itemUuid) {
    return this.command('play', { item_uuid: itemUuid });
  }

  async playAlbum(album) {
    // Playing an album replaces the queue with it (its first track becomes current), then plays.
    const page = await this.queueCommand('POST', '/queue/enqueue', { album_uuid: album.album_uuid, replace: true, position: 'end' }, 'play the album');
    if (page) await this.command('play');
  }

  // --- devices ---------------------------------------------------------------------------------

  chooseSpeaker(deviceUuid) {
    return this.command('speaker', { device_uuid: deviceUuid });
  }

  async forgetDevice(device) {
    try {
      await api.delete(`/devices/${device.device_uuid}`);
      toast(`Forgot “${device.device_name}”`);
    } catch (err) {
      showError(err, 'forget the device');
    }
    this.app.sync.refreshDevices();
  }

  async renameDevice(device, name, mine) {
    try {
      if (mine) {
        await this.app.device.rename(name);
      } else {
        // Registering a known uuid again renames it (its platform stays what it was).
        await api.post('/devices/register', { device_uuid: device.device_uuid, device_name: name, device_platform: device.device_platform ?? undefined });
      }
      toast(`Renamed to “${name}”`);
      return true;
    } catch (err) {
      showError(err, 'rename the device');
      return false;
    }
  }

  // --- queue -----------------------------------------------------------------------------------

  async enqueue(body, message) {
    const page = await this.queueCommand('POST', '/queue/enqueue', body, 'add to the queue');
    if (page) toast(message);
  }

  removeItem(itemUuid) {
    return this.queueCommand('DELETE', `/queue/items/${itemUuid}`, undefined, 'remove the song');
  }

  moveItem(itemUuid, toIdx) {
    return this.queueCommand('POST', '/queue/move', { item_uuid: itemUuid, to_idx: toIdx }, 'move the song');
  }

  clearQueue() {
    return this.queueCommand('DELETE', '/queue', undefined, 'clear the queue');
  }

  /** Queue edits answer with the queue's first page; the session follows by event. */
  async queueCommand(method, path, body, what = 'change the queue') {
    try {
      const withSender = body ? { ...body, device_uuid: this.app.device.uuid, client_event_uuid: uuid4() } : undefined;
      const page = await api.request(method, path, withSender);
      if (page && typeof page.revision === 'number') this.app.sync.acceptQueue(page);
      return page ?? true;
    } catch (err) {
      showError(err, what);
      // A refused move was drawn already: draw the queue as it is.
      if (path === '/queue/move') this.app.sync.refreshQueue();
      return null;
    }
  }

  // --- likes -----------------------------------------------------------------------------------

  async like() {
    const track = this.snap?.track;
    if (!track) return;
    const liked = !track.liked;
    const view = this.app.nowPlaying;
    view.renderLike(liked); // optimistic; the like event settles it
    try {
      await api.request(liked ? 'POST' : 'DELETE', `/tracks/${track.track_uuid}/like`);
    } catch (err) {
      view.renderLike(track.liked);
      showError(err, liked ? 'like the song' : 'unlike the song');
    }
  }
}
