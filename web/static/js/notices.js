// Short notices about what the session did by itself, shown on every device: a song skipped
// because the speaker could not play it (the snapshot's `last_failure`, new when its `at_ms`
// is). A failure from before this tab opened is not announced again.

import { clock } from './clock.js';
import { toast } from './dom.js';

const FRESH_MS = 60_000; // a failure older than this when the tab first sees it is history

// The speaker's free-text reason → words for a listener (anything else: the generic one).
const REASONS = [
  [/404|410|gone|not found|missing/i, 'its file is missing'],
  [/decode|format|unsupported/i, 'its file cannot be decoded'],
];

export function failureReason(reason) {
  for (const [pattern, words] of REASONS) if (reason && pattern.test(reason)) return words;
  return 'it could not be played';
}

export class Notices {
  constructor() {
    this.seenAt = null; // at_ms of the newest failure this tab knows about
  }

  /** Every accepted snapshot. */
  update(snap) {
    const failure = snap.last_failure;
    if (!failure) return;
    const first = this.seenAt === null;
    if (!first && failure.at_ms <= this.seenAt) return;
    this.seenAt = failure.at_ms;
    if (first && clock.now() - failure.at_ms > FRESH_MS) return;
    const title = failure.title ? `“${failure.title}”` : 'a song';
    const next = snap.play_state === 'stopped' && snap.track_uuid === failure.track_uuid ? ' Nothing playable is left in the queue.' : '';
    toast(`Skipped ${title}: ${failureReason(failure.reason)}.${next}`, 'error', 7000, 'failure-notice');
  }
}
