// What a person reads when something fails. The server's `detail` is written for developers
// (and a 422's is a validation list), so it is never shown as is: a known detail becomes a
// sentence, anything else a sentence chosen by the status. A 401 shows nothing (the login form
// takes over); a request that never reached the server also tells the connectivity banner.

import { ApiError } from './api.js';
import { capitalize, toast } from './dom.js';

// Server details (control's error texts) → what they mean to a listener. First match wins.
const KNOWN_DETAILS = [
  [/speaker is offline|speaker .*offline/i, 'the speaker is offline. Press Play again to play on this device.'],
  [/no active speaker/i, 'no device is chosen to play on. Pick one under “Connect to a device”.'],
  [/nothing is playing/i, 'nothing is playing. Pick a song first.'],
  [/end of queue/i, 'that was the last song in the queue.'],
  [/queue is empty/i, 'the queue is empty.'],
  [/no track in the queue is available/i, 'none of the songs in the queue can be played.'],
  [/tracks? (is|are) unavailable|file (is )?gone/i, 'the file of this song is missing.'],
  [/queue item not found/i, 'that song has already left the queue.'],
  [/device not found/i, 'that device was forgotten.'],
  [/tracks? not found/i, 'that song is no longer in your library.'],
  [/album not found/i, 'that album is no longer in your library.'],
  [/artist not found/i, 'that artist is no longer in your library.'],
  [/only the active speaker/i, 'only the device that plays can do that.'],
  [/device_uuid is taken/i, 'this browser’s device id belongs to another account.'],
  // pairing (docs/PAIRING.md)
  [/unknown or expired code/i, 'that code is unknown or has expired. Codes last 10 minutes: ask the speaker for a new one.'],
  [/paired device cannot approve/i, 'a paired speaker cannot add other speakers.'],
  // scrobble targets (docs/SCROBBLING.md)
  [/refused the token/i, 'the receiver refused the token. Copy it again from the receiver’s settings.'],
  [/does not look like a ListenBrainz API/i, 'that address does not answer like a ListenBrainz API (for Maloja it ends in /apis/listenbrainz).'],
  [/loopback or private address/i, 'that address is on a private network; the server’s admin has to allow it (US_SCROBBLE_ALLOW_HOSTS).'],
  [/cannot reach|cannot resolve/i, 'the server cannot reach that address.'],
  [/base_url/i, 'that is not an address the server can use: http:// or https://, a host, no user, password or query.'],
  [/already a scrobble target/i, 'it is already one of your scrobble targets.'],
  [/at most \d+ scrobble targets/i, 'you have as many scrobble targets as this server allows.'],
  [/scrobbling is not configured/i, 'scrobbling is not set up on this server (its admin sets US_SCROBBLE_TOKEN_KEY).'],
  [/scrobble target not found/i, 'that target was removed.'],
];

function detailText(detail) {
  if (typeof detail === 'string') return detail;
  if (detail && typeof detail === 'object' && !Array.isArray(detail) && typeof detail.message === 'string') return detail.message;
  return '';
}

/** Why it failed, as the end of a sentence ("the server cannot be reached."). */
export function reason(err) {
  if (!(err instanceof ApiError)) return 'something went wrong in this page. Reload it and try again.';
  if (err.status === 0) return err.timedOut ? 'the server took too long to answer.' : 'the server cannot be reached.';
  const text = detailText(err.detail);
  for (const [pattern, sentence] of KNOWN_DETAILS) {
    if (text && pattern.test(text)) return sentence;
  }
  const status = err.status;
  if (status === 403) return 'this device is not allowed to do that right now.';
  if (status === 404) return 'it is no longer there.';
  if (status === 409) return 'another device changed things at the same moment. Try again.';
  if (status === 413 || status === 422 || status === 400) return 'the server did not accept what was sent.';
  if (status === 429) {
    const wait = Number(err.retryAfter);
    return Number.isFinite(wait) && wait > 0 ? `too many requests. Try again in ${Math.ceil(wait)} s.` : 'too many requests. Wait a moment.';
  }
  if (status >= 500) return 'the server has a problem. Try again shortly.';
  return `the server answered ${status}.`;
}


/** One readable sentence: "Couldn't <what>: <reason>" or just the reason. */
export function describe(err, what = null) {
  return what ? `Couldn’t ${what}: ${reason(err)}` : capitalize(reason(err));
}

let onNetworkError = null;

/** The connectivity banner wants to know when a request never reached the server. */
export function onUnreachable(callback) {
  onNetworkError = callback;
}

export function showError(err, what = null) {
  if (err instanceof ApiError && err.status === 401) return;
  if (err instanceof ApiError && err.status === 0) {
    onNetworkError?.();
    // Offline is said once by the banner; a toast per press would only repeat it.
    if (!navigator.onLine) return;
  }
  toast(describe(err, what), 'error', 5000);
}
