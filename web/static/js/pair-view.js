// "Add a speaker" (RFC 8628 pairing, docs/PAIRING.md): a box without a keyboard shows a code
// and the address `/pair`; here a signed-in person types the code (or arrives with it in
// `?code=`, e.g. from a QR code), names the box and approves it — or refuses it. The box then
// becomes one of this user's devices and picks up its own credential at its next poll.

import { api } from './api.js';
import { h } from './dom.js';
import { describe } from './errors.js';

const CODE_LENGTH = 16; // "BCDF-GHJK" with room for spaces; the server ignores case, spaces, dashes

export class PairView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.title = 'Add a speaker';
    this.code = h('input', {
      id: 'pair-code', name: 'code', maxlength: CODE_LENGTH, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false',
      placeholder: 'BCDF-GHJK', required: true, dataset: { testid: 'pair-code' }, 'aria-describedby': 'pair-help',
    });
    this.name = h('input', { id: 'pair-name', name: 'device_name', maxlength: 100, autocomplete: 'off', placeholder: 'Living room', dataset: { testid: 'pair-name' } });
    this.result = h('p', { class: 'form-result', role: 'status', dataset: { testid: 'pair-result' } });
    this.approveButton = h('button', { class: 'btn btn-primary', type: 'submit', dataset: { testid: 'pair-approve' } }, 'Add speaker');
    this.denyButton = h('button', { class: 'btn btn-ghost', type: 'button', dataset: { testid: 'pair-deny' }, onclick: () => this.send('deny') }, 'Refuse this code');
    const form = h(
      'form',
      { class: 'panel-form', dataset: { testid: 'pair-form' }, onsubmit: (e) => { e.preventDefault(); this.send('approve'); } },
      h('label', { for: 'pair-code' }, 'Code shown by the speaker'),
      this.code,
      h('p', { id: 'pair-help', class: 'muted' }, 'The speaker shows it on its screen or in its log, with this page’s address. It lasts 10 minutes.'),
      h('label', { for: 'pair-name' }, 'Name it (optional)'),
      this.name,
      h('div', { class: 'form-actions' }, this.approveButton, this.denyButton),
      this.result,
    );
    this.el = h(
      'section',
      { class: 'view pair-view', 'aria-labelledby': 'pair-title', dataset: { testid: 'pair-view' } },
      h('header', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'pair-title' }, 'Add a speaker'),
        h('p', { class: 'view-count muted' }, 'A speaker box joins your devices without ever seeing your password.')),
      form,
    );
  }

  show(route) {
    const code = (route.query.get('code') || '').slice(0, CODE_LENGTH);
    if (code && !this.code.value) this.code.value = code;
    (this.code.value ? this.name : this.code).focus({ preventScroll: true });
  }

  async send(action) {
    const user_code = this.code.value.trim();
    if (!user_code) {
      this.say('Type the code the speaker shows.', true);
      this.code.focus();
      return;
    }
    const device_name = this.name.value.trim();
    this.approveButton.disabled = this.denyButton.disabled = true;
    try {
      if (action === 'approve') {
        const device = await api.post('/auth/device/approve', device_name ? { user_code, device_name } : { user_code });
        this.say(`“${device.device_name}” is now one of your devices. It starts within a few seconds; pick it under “Connect to a device”.`);
        this.code.value = '';
        this.name.value = '';
        this.app.sync.refreshDevices();
      } else {
        await api.post('/auth/device/deny', { user_code });
        this.say('Refused: that speaker will not be added.');
        this.code.value = '';
      }
    } catch (err) {
      this.say(describe(err, action === 'approve' ? 'add the speaker' : 'refuse the code'), true);
    } finally {
      this.approveButton.disabled = this.denyButton.disabled = false;
    }
  }

  say(text, error = false) {
    this.result.textContent = text;
    this.result.classList.toggle('is-error', error);
  }
}
