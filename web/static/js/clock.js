// The server's clock, as seen from this tab.
//
// Snapshots carry `position_ms` projected to `server_time_ms` (the server's shared wall clock).
// To draw the position now we need `serverNow = localNow + offset`. Every snapshot is a sample:
// the server stamped it before we received it, so `offset >= server_time_ms - receivedAt`
// (a lower bound, from SSE events and responses alike), and for a request/response pair it was
// stamped after we sent, so `offset <= server_time_ms - sentAt` (an upper bound). The estimate is
// the tightest interval over recent samples: the largest lower bound (the least-delayed sample)
// and, when responses gave upper bounds, the middle of the interval. Local time is
// `performance.timeOrigin + performance.now()`, which is monotonic, so a local wall-clock change
// does not move the projection. Samples that contradict each other by a little (two server hosts
// a few ms apart) meet in the middle; by more than a second (a machine slept, a clock was
// stepped), only the newest is kept.

export function localNow() {
  return performance.timeOrigin + performance.now();
}

export class ServerClock {
  constructor({ windowMs = 5 * 60 * 1000, maxSamples = 200 } = {}) {
    this.windowMs = windowMs;
    this.maxSamples = maxSamples;
    this.samples = [];
    this.offsetMs = 0;
    this.known = false;
  }

  /** A snapshot stamped `serverTimeMs` arrived at `receivedAt`; `sentAt` when it answered our request. */
  observe(serverTimeMs, receivedAt = localNow(), sentAt = null) {
    if (!Number.isFinite(serverTimeMs)) return;
    const sample = {
      lo: serverTimeMs - receivedAt,
      hi: sentAt === null ? Infinity : serverTimeMs - sentAt,
      at: receivedAt,
    };
    this.samples.push(sample);
    const oldest = receivedAt - this.windowMs;
    while (this.samples.length > this.maxSamples || (this.samples.length > 1 && this.samples[0].at < oldest)) {
      this.samples.shift();
    }
    this.recompute();
  }

  recompute() {
    let lo = -Infinity;
    let hi = Infinity;
    for (const s of this.samples) {
      lo = Math.max(lo, s.lo);
      hi = Math.min(hi, s.hi);
    }
    if (lo - hi > 1000) {
      const newest = this.samples[this.samples.length - 1];
      this.samples = [newest];
      lo = newest.lo;
      hi = newest.hi;
    }
    this.offsetMs = hi === Infinity ? lo : (lo + hi) / 2;
    this.known = true;
  }

  now() {
    return localNow() + this.offsetMs;
  }
}

/** DESIGN.md's projection: position + elapsed while playing, clamped to [0, duration]. */
export function projectPosition(snapshot, serverNowMs) {
  if (!snapshot || !snapshot.track) return 0;
  let position = snapshot.position_ms;
  if (snapshot.play_state === 'playing') position += serverNowMs - snapshot.server_time_ms;
  const duration = snapshot.track.duration_ms;
  return Math.max(0, Math.min(position, duration));
}

/** True when `next` is not the continuation of `prev`'s timeline (a seek, a restart, a pause…). */
export function timelineMoved(prev, next, toleranceMs = 80) {
  if (!prev || !next) return true;
  if (prev.track_uuid !== next.track_uuid || prev.play_state !== next.play_state) return true;
  if (prev.queue_position !== next.queue_position) return true;
  const at = next.server_time_ms;
  return Math.abs(projectPosition(prev, at) - projectPosition(next, at)) > toleranceMs;
}

export const clock = new ServerClock();
