// The player: title, cover, like, progress bar, transport controls, the speaker line and
// volume. One element, two presentations: a bar (at the bottom of a laptop's window; a
// mini-player above the phone's navigation) and, at #/now, the full-screen now-playing view.
// It draws each snapshot and turns its controls into commands; the bar is redrawn every
// animation frame from the projection (no polling).

import { clock, projectPosition } from './clock.js';
import { $, capitalize, formatTime, toast } from './dom.js';
import { describe } from './errors.js';
import { icons } from './icons.js';
import { largeCover } from './rows.js';

const REPEAT_LABEL = { off: 'Repeat: off', all: 'Repeat: all', one: 'Repeat: one' };

export class NowPlayingView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.dragging = false;
    this.pendingSeek = null; // {ms, until}: the bar shows where we seeked until the answer lands
    this.volumeHeldUntil = 0;
    this.coverTrack = null;
    this.coverOk = false;
    this.positionText = null;
    this.tickHandle = 0;
  }

  get snap() {
    return this.app.sync.snap;
  }

  // --- drawing ---------------------------------------------------------------------------------

  render(prev, snap) {
    const root = $('app');
    const track = snap.track;
    const mine = snap.active_device_uuid === this.app.device.uuid;
    this.pendingSeek = null;
    root.dataset.playState = snap.play_state;
    root.dataset.trackUuid = snap.track_uuid ?? '';
    root.dataset.rev = String(snap.revision);
    root.dataset.speaker = String(mine);
    root.dataset.activeDevice = snap.active_device_uuid ?? '';

    const title = $('np-title');
    title.textContent = track ? track.title : 'Nothing playing';
    title.title = track ? track.title : '';
    $('np-artist').textContent = track ? track.artist : 'Pick something from the library';
    $('np-album').textContent = track ? track.album : '';
    $('np-sep').hidden = !track || !track.album;
    $('np-duration').textContent = formatTime(track?.duration_ms ?? 0);
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

    $('btn-shuffle').setAttribute('aria-pressed', String(snap.shuffle));
    const repeat = $('btn-repeat');
    repeat.dataset.mode = snap.repeat_mode;
    repeat.setAttribute('aria-label', REPEAT_LABEL[snap.repeat_mode]);
    repeat.title = REPEAT_LABEL[snap.repeat_mode];
    repeat.setAttribute('aria-pressed', String(snap.repeat_mode !== 'off'));

    if (performance.now() > this.volumeHeldUntil) $('volume').value = String(snap.volume_percent);
    this.renderVolume();

    this.renderSpeakerLine();
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

  /** The cover image's URL for a track (null when there is none to ask for). */
  coverUrl(track) {
    if (!track) return null;
    if (track.cover_url !== undefined) return largeCover(track.cover_url);
    return `/tracks/${track.track_uuid}/cover`; // a server without cover_url: the embedded picture
  }

  renderCover(track) {
    this.coverTrack = track?.track_uuid ?? null;
    this.coverOk = false;
    const img = $('np-cover');
    const fallback = $('np-cover-fallback');
    img.hidden = true;
    fallback.hidden = false;
    fallback.innerHTML = icons.note;
    const url = this.coverUrl(track);
    if (!url) {
      img.removeAttribute('src');
      return;
    }
    const wanted = track.track_uuid;
    img.onload = () => {
      if (this.coverTrack !== wanted) return;
      this.coverOk = true;
      img.hidden = false;
      fallback.hidden = true;
      this.app.mediaSession.update(null, this.snap);
    };
    img.onerror = () => {
      if (this.coverTrack !== wanted) return;
      img.hidden = true; // no embedded art: the placeholder stays
    };
    img.src = url;
  }

  /** "Playing on …" only while it plays; which device, and whether it is reachable. */
  renderSpeakerLine() {
    const snap = this.snap;
    const active = snap.active_device_uuid;
    const mine = active === this.app.device.uuid;
    const name = active ? this.app.devicesView.nameOf(active) ?? 'another device' : null;
    const offline = active && snap.speaker_online === false;
    let label;
    if (!active) label = 'Pick a speaker';
    else if (offline) label = `${capitalize(name)} is offline`;
    else if (snap.play_state === 'playing') label = `Playing on ${name}`;
    else if (snap.play_state === 'paused' && snap.track) label = `Paused on ${name}`;
    else label = `Speaker: ${name}`;
    $('speaker-label').textContent = label;
    const line = $('btn-devices');
    line.classList.toggle('is-mine', mine && !offline);
    line.classList.toggle('is-offline', Boolean(offline));
    line.setAttribute('aria-label', `${label}. Connect to a device`);
    line.title = 'Connect to a device';
    $('btn-play-here').hidden = mine || !snap.track;
  }

  /** The speaker's audio status: blocked by autoplay → the banner; an error → a toast. */
  speakerStatus(status, error) {
    $('audio-blocked').hidden = status !== 'blocked';
    if (status === 'error' && error) toast(typeof error === 'string' ? error : describe(error, 'play here'), 'error', 6000);
  }

  holdSeek(ms) {
    this.pendingSeek = { ms, until: performance.now() + 2000 };
  }

  positionNow() {
    return projectPosition(this.snap, clock.now());
  }

  tick() {
    this.drawProgress();
    this.tickHandle = requestAnimationFrame(() => this.tick());
  }

  stop() {
    cancelAnimationFrame(this.tickHandle);
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
    const fill = `${duration ? (100 * shown) / duration : 0}%`;
    progress.style.setProperty('--fill', fill);
    $('mini-progress-fill').style.width = fill;
  }

  /** The full-screen view (#/now) or the bar. */
  setExpanded(expanded) {
    const root = $('app');
    if ((root.dataset.expanded === 'true') === expanded) return;
    root.dataset.expanded = String(expanded);
    // Full screen it is a modal dialog over the page; as the bar, a labelled region (aria-modal is
    // only allowed on a dialog).
    const player = $('player');
    if (expanded) {
      player.setAttribute('role', 'dialog');
      player.setAttribute('aria-modal', 'true');
    } else {
      player.removeAttribute('role');
      player.removeAttribute('aria-modal');
    }
    if (expanded) $('btn-collapse').focus({ preventScroll: true });
    else if (document.activeElement === $('btn-collapse')) $('np-art').focus({ preventScroll: true });
  }

  // --- controls --------------------------------------------------------------------------------

  bind() {
    const { app } = this;
    const commands = app.commands;
    app.listen($('btn-play'), 'click', () => commands.togglePlay());
    app.listen($('btn-next'), 'click', () => commands.next());
    app.listen($('btn-prev'), 'click', () => commands.prev());
    app.listen($('btn-shuffle'), 'click', () => commands.toggleShuffle());
    app.listen($('btn-repeat'), 'click', () => commands.cycleRepeat());
    app.listen($('btn-like'), 'click', () => commands.like());
    app.listen($('btn-play-here'), 'click', () => commands.chooseSpeaker(app.device.uuid));
    app.listen($('audio-unblock'), 'click', () => app.speaker.unblock());
    $('btn-shuffle').innerHTML = icons.shuffle;
    $('btn-repeat').innerHTML = icons.repeat;
    $('btn-next').innerHTML = icons.next;
    $('btn-prev').innerHTML = icons.prev;
    $('btn-play').innerHTML = icons.play;
    document.querySelector('.speaker-icon').innerHTML = icons.speaker;
    $('btn-collapse').innerHTML = icons.chevronDown;
    app.listen($('np-art'), 'click', () => {
      if ($('app').dataset.expanded === 'true') return;
      app.router.go('#/now');
    });
    app.listen($('btn-collapse'), 'click', () => app.router.back());

    // Seek by dragging: the bar follows the finger; the seek is sent on release.
    const progress = $('progress');
    app.listen(progress, 'pointerdown', () => { this.dragging = true; });
    app.listen(progress, 'input', () => {
      this.dragging = true;
      this.positionText = null;
      $('np-position').textContent = formatTime(Number(progress.value));
      this.drawProgress();
    });
    app.listen(progress, 'change', () => {
      this.dragging = false;
      commands.seekTo(Number(progress.value));
    });
    app.listen(progress, 'pointercancel', () => { this.dragging = false; });

    // Volume: sent while dragging (throttled) and on release; the slider ignores echoes meanwhile.
    const volume = $('volume');
    let volumeTimer = null;
    const sendVolume = () => {
      volumeTimer = null;
      commands.setVolume(Number(volume.value));
    };
    app.listen(volume, 'input', () => {
      this.volumeHeldUntil = performance.now() + 1500;
      this.renderVolume();
      if (!volumeTimer) volumeTimer = setTimeout(sendVolume, 150);
    });
  }
}
