// The control API over fetch. Authentication is the HttpOnly `us_access` cookie set by
// POST /auth/session: page script never sees a token. Every non-GET request carries
// `X-Requested-With: us-web` (control's CSRF guard for cookie-authenticated writes).

import { localNow } from './clock.js';

/** A refused or failed request. `message` is for logs; people read errors.js's sentences. */
export class ApiError extends Error {
  constructor(status, detail, retryAfter = null, { timedOut = false } = {}) {
    super(ApiError.describe(status, detail));
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
    this.timedOut = timedOut;
  }

  static describe(status, detail) {
    if (typeof detail === 'string') return detail;
    if (detail && typeof detail === 'object') {
      if (typeof detail.message === 'string') return detail.message;
      if (Array.isArray(detail)) return detail.map((d) => d?.msg ?? String(d)).join('; ');
    }
    return status ? `request failed (${status})` : 'network error';
  }
}

export class Api {
  constructor() {
    /** Called once per 401 outside /auth (the cookie expired or was cleared). */
    this.onUnauthorized = null;
  }

  /** One request; resolves to the JSON body (null for 204). Throws ApiError. */
  async request(method, path, body, { timeoutMs = 15000 } = {}) {
    const result = await this.timed(method, path, body, { timeoutMs });
    return result.data;
  }

  /** Like request(), also returning when it was sent and answered (local clock) for clock samples. */
  async timed(method, path, body, { timeoutMs = 15000 } = {}) {
    const headers = { Accept: 'application/json' };
    if (method !== 'GET' && method !== 'HEAD') headers['X-Requested-With'] = 'us-web';
    let payload;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const sentAt = localNow();
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: payload,
        credentials: 'same-origin',
        cache: 'no-store',
        signal: controller.signal,
      });
    } catch (err) {
      const timedOut = err?.name === 'AbortError';
      throw new ApiError(0, timedOut ? 'request timed out' : 'network error', null, { timedOut });
    } finally {
      clearTimeout(timer);
    }
    const receivedAt = localNow();
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      if (response.status === 401 && !path.startsWith('/auth/') && this.onUnauthorized) this.onUnauthorized();
      throw new ApiError(response.status, data?.detail ?? response.statusText, response.headers.get('Retry-After'));
    }
    return { data, sentAt, receivedAt };
  }

  get(path) { return this.request('GET', path); }
  post(path, body = {}) { return this.request('POST', path, body); }
  patch(path, body = {}) { return this.request('PATCH', path, body); }
  delete(path) { return this.request('DELETE', path); }
}

export const api = new Api();
