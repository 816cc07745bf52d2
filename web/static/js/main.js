// Boot: who am I (GET /users/me), else the login form; then one App per signed-in tab.
// `window.usPlayer.state` is a read-only debug view (tests read it; no secrets in it — the
// token is in an HttpOnly cookie).

import { api, ApiError } from './api.js';
import { App } from './app.js';
import { clock, localNow, projectPosition } from './clock.js';
import { claimDevice, Device } from './device.js';
import { $ } from './dom.js';

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

async function signIn(e) {
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
}

async function signOut() {
  if (app?.speaker.isSpeaker && app.sync.snap?.play_state === 'playing') await app.commands.pause();
  try {
    await api.delete('/auth/session');
  } catch {
    /* the cookie is cleared or already gone either way */
  }
  showLogin();
}

async function boot() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
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

window.usPlayer = {
  get state() {
    if (!app) return null;
    const snap = app.sync.snap;
    return {
      rev: app.sync.rev,
      snapshot: snap,
      positionMs: snap ? projectPosition(snap, clock.now()) : 0,
      localNow: localNow(),
      offsetMs: clock.offsetMs,
      isSpeaker: app.speaker.isSpeaker,
      deviceUuid: app.device.uuid,
      speaker: { ...app.speaker.stats, src: app.speaker.src ? { expiresAt: app.speaker.src.expiresAt } : null },
    };
  },
};

boot();
