// Media Session: what the OS shows on lock screens, notifications and media keys (title,
// artist, album, cover, position), and its buttons turned into commands.

import { clock, projectPosition } from './clock.js';
import { SEEK_STEP_MS } from './commands.js';

export class MediaSessionBridge {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
  }

  update(prev, snap) {
    if (!('mediaSession' in navigator) || !snap) return;
    const ms = navigator.mediaSession;
    const track = snap.track;
    if (!track) {
      ms.metadata = null;
      ms.playbackState = 'none';
      return;
    }
    const view = this.app.nowPlaying;
    if (!prev || prev.track_uuid !== snap.track_uuid || prev.track?.liked !== track.liked || !ms.metadata || view.coverOk) {
      const artwork = view.coverOk ? [{ src: new URL(view.coverUrl(track), location.href).href, sizes: '512x512' }] : [];
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

  bind() {
    if (!('mediaSession' in navigator)) return;
    const commands = this.app.commands;
    const handlers = {
      play: () => commands.play(),
      pause: () => commands.pause(),
      stop: () => commands.pause(),
      nexttrack: () => commands.next(),
      previoustrack: () => commands.prev(),
      seekbackward: (d) => commands.seekBy(-(d?.seekOffset ? d.seekOffset * 1000 : SEEK_STEP_MS)),
      seekforward: (d) => commands.seekBy(d?.seekOffset ? d.seekOffset * 1000 : SEEK_STEP_MS),
      seekto: (d) => typeof d?.seekTime === 'number' && commands.seekTo(d.seekTime * 1000),
    };
    for (const [action, handler] of Object.entries(handlers)) {
      try {
        navigator.mediaSession.setActionHandler(action, handler);
      } catch {
        /* action not supported here */
      }
    }
  }
}
