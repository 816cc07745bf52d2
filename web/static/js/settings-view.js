// Scrobbling settings (DESIGN.md "Scrobble targets", docs/SCROBBLING.md): where this user's
// listens go — ListenBrainz, or anything that speaks its API (Maloja, Koito, multi-scrobbler).
// Lists each target with its state and counts, adds one (API root + token), pauses and
// resumes it, replaces a refused token, removes it. The token goes to the server and never
// comes back; the list is refreshed while the view is shown (counts move as listens go out).

import { api } from './api.js';
import { h, toast } from './dom.js';
import { describe, showError } from './errors.js';

const REFRESH_MS = 10_000;
const STATE_LABEL = { ok: 'Delivering', paused: 'Paused', token_refused: 'Token refused', failing: 'Failing, retrying' };

const tokenInput = (id, testid) =>
  h('input', { id, type: 'password', maxlength: 512, autocomplete: 'off', spellcheck: 'false', required: true, dataset: { testid } });

export class SettingsView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.title = 'Scrobbling';
    this.timer = null;
    this.list = h('ul', { class: 'targets', dataset: { testid: 'target-list' } });
    this.empty = h('p', { class: 'empty', hidden: true }, 'No scrobble targets yet: your listens stay on this server.');
    this.baseUrl = h('input', { id: 'target-url', type: 'url', maxlength: 2048, autocomplete: 'off', spellcheck: 'false', required: true, placeholder: 'https://api.listenbrainz.org', dataset: { testid: 'target-url' } });
    this.token = tokenInput('target-token', 'target-token');
    this.result = h('p', { class: 'form-result', role: 'status', dataset: { testid: 'target-result' } });
    this.addButton = h('button', { class: 'btn btn-primary', type: 'submit', dataset: { testid: 'target-add' } }, 'Add target');
    const form = h(
      'form',
      { class: 'panel-form', dataset: { testid: 'target-form' }, onsubmit: (e) => { e.preventDefault(); this.add(); } },
      h('h2', { class: 'group-title' }, 'Add a target'),
      h('label', { for: 'target-url' }, 'API address'),
      this.baseUrl,
      h('p', { class: 'muted' }, 'ListenBrainz: https://api.listenbrainz.org. Maloja: http://host:42010/apis/listenbrainz.'),
      h('label', { for: 'target-token' }, 'Token'),
      this.token,
      h('p', { class: 'muted' }, 'Your user token (ListenBrainz settings) or an API key (Maloja). The server checks it with the receiver first.'),
      h('div', { class: 'form-actions' }, this.addButton),
      this.result,
    );
    this.el = h(
      'section',
      { class: 'view settings-view', 'aria-labelledby': 'settings-title', dataset: { testid: 'settings-view' } },
      h('header', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'settings-title' }, 'Scrobbling'),
        h('p', { class: 'view-count muted' }, 'Every listen this server counts (half a song or 4 minutes) is sent to each target once.')),
      h('h2', { class: 'group-title' }, 'Targets'),
      this.empty,
      this.list,
      form,
    );
  }

  show() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = null;
  }

  destroy() {
    this.hide();
  }

  async load() {
    let page;
    try {
      page = await api.get('/scrobble/targets?limit=50');
    } catch (err) {
      this.empty.hidden = false;
      this.empty.textContent = describe(err, 'load the scrobble targets');
      return;
    }
    if (this.list.querySelector('.target-edit')) return; // not under someone's typing
    this.empty.hidden = page.items.length > 0;
    this.empty.textContent = 'No scrobble targets yet: your listens stay on this server.';
    this.list.replaceChildren(...page.items.map((target) => this.row(target)));
  }

  row(target) {
    const counts = [`${target.delivered.toLocaleString()} delivered`, `${target.pending.toLocaleString()} waiting`];
    if (target.refused) counts.push(`${target.refused.toLocaleString()} refused`);
    const status = h('p', { class: 'target-status' }, h('span', { class: `state state-${target.state}`, dataset: { testid: 'target-state' } }, STATE_LABEL[target.state] ?? target.state), ` · ${counts.join(' · ')}`);
    const box = h(
      'li',
      { class: 'target', dataset: { testid: 'target-row', targetUuid: target.target_uuid, state: target.state } },
      h('p', { class: 'target-url', title: target.base_url }, target.base_url),
      target.receiver_user ? h('p', { class: 'muted' }, `as ${target.receiver_user}`) : null,
      status,
      target.last_error ? h('p', { class: 'muted target-error', dataset: { testid: 'target-error' } }, `Last problem: ${target.last_error}`) : null,
      target.last_delivered_at ? h('p', { class: 'muted' }, `Last delivery ${new Date(target.last_delivered_at).toLocaleString()}`) : null,
    );
    const actions = h(
      'div',
      { class: 'form-actions' },
      h('button', { class: 'btn btn-ghost btn-sm', type: 'button', dataset: { testid: 'target-pause' }, onclick: () => this.change(target, { paused: !target.paused }, target.paused ? 'resume the target' : 'pause the target') }, target.paused ? 'Resume' : 'Pause'),
      h('button', { class: 'btn btn-ghost btn-sm', type: 'button', dataset: { testid: 'target-token-change' }, onclick: () => this.editToken(box, target) }, 'Replace token'),
      h('button', { class: 'btn btn-ghost btn-sm', type: 'button', dataset: { testid: 'target-remove' }, onclick: () => this.confirmRemove(box, target) }, 'Remove'),
    );
    box.append(actions);
    return box;
  }

  editToken(box, target) {
    box.querySelector('.target-edit')?.remove();
    const input = tokenInput(`token-${target.target_uuid}`, 'target-new-token');
    const form = h(
      'form',
      { class: 'target-edit', onsubmit: async (e) => {
        e.preventDefault();
        if (await this.change(target, { token: input.value.trim() }, 'replace the token')) {
          form.remove();
          this.load();
        }
      } },
      h('label', { for: input.id }, 'New token'),
      input,
      h('div', { class: 'form-actions' },
        h('button', { class: 'btn btn-primary btn-sm', type: 'submit', dataset: { testid: 'target-token-save' } }, 'Save token'),
        h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { form.remove(); this.load(); } }, 'Cancel')),
    );
    box.append(form);
    input.focus();
  }

  confirmRemove(box, target) {
    box.querySelector('.target-edit')?.remove();
    const form = h(
      'div',
      { class: 'target-edit', role: 'group', 'aria-label': 'Remove this target?' },
      h('p', {}, 'Remove this target? Listens not yet delivered to it are dropped.'),
      h('div', { class: 'form-actions' },
        h('button', { class: 'btn btn-primary btn-sm', type: 'button', dataset: { testid: 'target-remove-confirm' }, onclick: () => this.remove(target) }, 'Remove'),
        h('button', { class: 'btn btn-ghost btn-sm', type: 'button', onclick: () => { form.remove(); this.load(); } }, 'Keep it')),
    );
    box.append(form);
    form.querySelector('button').focus();
  }

  async add() {
    const body = { base_url: this.baseUrl.value.trim(), token: this.token.value.trim() };
    this.addButton.disabled = true;
    this.say('Checking the token with the receiver…');
    try {
      const target = await api.post('/scrobble/targets', body);
      this.say(`Added. Listens go to ${target.base_url} from now on.`);
      this.baseUrl.value = '';
      this.token.value = '';
    } catch (err) {
      this.say(describe(err, 'add the target'), true);
    } finally {
      this.addButton.disabled = false;
    }
    this.load();
  }

  async change(target, body, what) {
    try {
      await api.patch(`/scrobble/targets/${target.target_uuid}`, body);
      toast(body.token ? 'Token replaced.' : body.paused ? 'Paused: its listens wait until you resume it.' : 'Resumed.');
      return true;
    } catch (err) {
      showError(err, what);
      return false;
    } finally {
      if (!body.token) this.load();
    }
  }

  async remove(target) {
    try {
      await api.delete(`/scrobble/targets/${target.target_uuid}`);
      toast('Target removed.');
    } catch (err) {
      showError(err, 'remove the target');
    }
    this.list.querySelector('.target-edit')?.remove();
    this.load();
  }

  say(text, error = false) {
    this.result.textContent = text;
    this.result.classList.toggle('is-error', error);
  }
}
