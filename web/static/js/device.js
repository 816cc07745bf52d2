// This tab's device: a stable uuid, a friendly name, registration and heartbeats.
//
// A browser tab is a device. The uuid lives in localStorage (it is not a secret) so a reload or
// a restart comes back as the same device. Two tabs of one browser must not share a uuid, so
// the stored uuids form a pool and each tab holds a Web Lock on the one it uses: the first tab
// takes the first uuid, a second concurrent tab the next (or a new one). Without Web Locks
// (non-secure origins) every tab uses the first uuid. The pool is per user, so two people
// signing in on one browser never collide (registering another user's uuid is a 409).

import { api, ApiError } from './api.js';
import { uuid4 } from './dom.js';

const HEARTBEAT_MS = 10_000;

function poolKey(userUuid) {
  return `us.devices.${userUuid}`;
}

function readPool(userUuid) {
  try {
    const pool = JSON.parse(localStorage.getItem(poolKey(userUuid)) || '[]');
    return Array.isArray(pool) ? pool.filter((d) => d && typeof d.uuid === 'string') : [];
  } catch {
    return [];
  }
}

function writePool(userUuid, pool) {
  try {
    localStorage.setItem(poolKey(userUuid), JSON.stringify(pool));
  } catch {
    /* storage full or disabled: the uuid lives for this tab only */
  }
}

function holdLock(name) {
  return new Promise((resolve) => {
    navigator.locks
      .request(name, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise(() => {}); // held until the tab goes away
      })
      .catch(() => resolve(false));
  });
}

export function defaultDeviceName() {
  const ua = navigator.userAgent;
  const brands = navigator.userAgentData?.brands?.map((b) => b.brand) ?? [];
  let browser = brands.find((b) => !/not.?a.?brand|chromium/i.test(b)) || (brands.includes('Chromium') ? 'Chromium' : '');
  if (!browser) {
    if (/Firefox\//.test(ua)) browser = 'Firefox';
    else if (/Edg\//.test(ua)) browser = 'Edge';
    else if (/Chrome\//.test(ua)) browser = 'Chrome';
    else if (/Safari\//.test(ua)) browser = 'Safari';
    else browser = 'Browser';
  }
  browser = browser.replace(/^Google /, '');
  let platform = navigator.userAgentData?.platform || '';
  if (!platform) {
    if (/Android/.test(ua)) platform = 'Android';
    else if (/iPhone|iPad/.test(ua)) platform = 'iOS';
    else if (/Mac OS X/.test(ua)) platform = 'macOS';
    else if (/Windows/.test(ua)) platform = 'Windows';
    else if (/Linux/.test(ua)) platform = 'Linux';
  }
  return platform ? `${browser} on ${platform}` : browser;
}

export function devicePlatform() {
  const platform = navigator.userAgentData?.platform || navigator.platform || 'unknown';
  const mobile = navigator.userAgentData?.mobile ?? /Mobi|Android|iPhone/.test(navigator.userAgent);
  return `web/${platform}${mobile ? '/mobile' : ''}`.slice(0, 100);
}

const claimed = new Map(); // userUuid → entry: signing out and in again keeps this tab's device

/** The uuid and name this tab uses for `userUuid`. */
export async function claimDevice(userUuid) {
  if (!claimed.has(userUuid)) claimed.set(userUuid, await claimFromPool(userUuid));
  const entry = claimed.get(userUuid);
  const stored = readPool(userUuid).find((d) => d.uuid === entry.uuid);
  return stored ? { ...entry, name: stored.name } : entry;
}

async function claimFromPool(userUuid) {
  const pool = readPool(userUuid);
  if (navigator.locks) {
    for (const entry of pool) {
      if (await holdLock(`us-device:${entry.uuid}`)) return { ...entry, index: pool.indexOf(entry) };
    }
  } else if (pool.length) {
    return { ...pool[0], index: 0 };
  }
  const entry = { uuid: uuid4(), name: defaultDeviceName() };
  const latest = readPool(userUuid); // another tab may have written meanwhile
  latest.push(entry);
  writePool(userUuid, latest);
  if (navigator.locks) await holdLock(`us-device:${entry.uuid}`);
  return { ...entry, index: latest.length - 1, fresh: true };
}

/** `base`, or "base (2)", "base (3)"… — the first that none of `taken` uses. */
export function distinctName(base, taken) {
  const names = new Set(taken);
  if (!names.has(base)) return base;
  for (let n = 2; ; n += 1) {
    const name = `${base} (${n})`.slice(-100);
    if (!names.has(name)) return name;
  }
}

export class Device {
  constructor(userUuid, entry) {
    this.userUuid = userUuid;
    this.uuid = entry.uuid;
    this.name = entry.name;
    this.fresh = Boolean(entry.fresh); // a new uuid: its default name must not repeat another device's
    this.timer = null;
    this.onRegistered = null;
  }

  remember() {
    const pool = readPool(this.userUuid);
    const found = pool.find((d) => d.uuid === this.uuid);
    if (found) found.name = this.name;
    else pool.push({ uuid: this.uuid, name: this.name });
    writePool(this.userUuid, pool);
  }

  forgetUuid(oldUuid) {
    writePool(this.userUuid, readPool(this.userUuid).filter((d) => d.uuid !== oldUuid));
  }

  async register() {
    if (this.fresh) {
      this.fresh = false;
      try {
        const page = await api.get('/devices?limit=200');
        this.name = distinctName(this.name, page.items.filter((d) => d.device_uuid !== this.uuid).map((d) => d.device_name));
      } catch {
        /* the default name then; it can be renamed */
      }
    }
    const body = { device_uuid: this.uuid, device_name: this.name, device_platform: devicePlatform() };
    try {
      const device = await api.post('/devices/register', body);
      this.remember();
      return device;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        // The uuid belongs to someone else (a shared browser): take a new one.
        this.forgetUuid(this.uuid);
        this.uuid = uuid4();
        return this.register();
      }
      throw err;
    }
  }

  /** The server knows this device by another name (renamed on another screen). */
  adopt(name) {
    this.name = name;
    this.remember();
  }

  async rename(name) {
    const clean = name.trim().slice(0, 100);
    if (!clean || clean === this.name) return false;
    this.name = clean;
    await this.register();
    return true;
  }

  async heartbeat() {
    try {
      await api.patch('/devices/heartbeat', { device_uuid: this.uuid });
    } catch (err) {
      // Forgotten by another device: come back.
      if (err instanceof ApiError && err.status === 404) {
        await this.register();
        this.onRegistered?.();
      }
    }
  }

  /** On pagehide: a heartbeat that says this tab is going (keepalive outlives the page). */
  leave() {
    this.stopHeartbeat();
    fetch('/devices/heartbeat', {
      method: 'PATCH',
      keepalive: true,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'us-web' },
      body: JSON.stringify({ device_uuid: this.uuid, leaving: true }),
    }).catch(() => {});
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.timer = setInterval(() => this.heartbeat().catch(() => {}), HEARTBEAT_MS);
  }

  stopHeartbeat() {
    clearInterval(this.timer);
    this.timer = null;
  }
}
