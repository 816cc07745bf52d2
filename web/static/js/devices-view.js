// "Connect to a device": a sheet (a modal <dialog>) listing this user's devices with presence,
// which one is the speaker, "play here / there", renaming one in place (two phones of one make
// are told apart by their names), and forgetting an offline one. Offline devices that are
// neither this one nor the speaker fold away under "Show N offline devices" (browsers pile up).

import { $, h, iconButton } from './dom.js';
import { icons } from './icons.js';

export class DevicesView {
  /** @param {import('./app.js').App} app */
  constructor(app) {
    this.app = app;
    this.devices = [];
    this.showOffline = false;
    this.editing = null; // device uuid whose name is being edited
  }

  bind() {
    const { app } = this;
    const sheet = $('devices-sheet');
    app.listen($('btn-devices'), 'click', () => this.open());
    app.listen(sheet, 'click', (e) => {
      // A click on the backdrop (outside the sheet's box) or on a [data-close] closes it.
      if (e.target === sheet || e.target.closest?.('[data-close]')) sheet.close();
    });
    app.listen(sheet, 'close', () => {
      this.editing = null;
    });
  }

  open() {
    const sheet = $('devices-sheet');
    if (!sheet.open) sheet.showModal();
    this.render();
    this.app.sync.refreshDevices();
  }

  close() {
    const sheet = $('devices-sheet');
    if (sheet.open) sheet.close();
  }

  nameOf(deviceUuid) {
    if (deviceUuid === this.app.device.uuid) return 'this device';
    return this.devices.find((d) => d.device_uuid === deviceUuid)?.device_name ?? null;
  }

  async choose(device) {
    const answer = await this.app.commands.chooseSpeaker(device.device_uuid);
    if (answer) this.close();
  }

  render(page) {
    if (page) {
      this.devices = page.items;
      // Renamed on another screen: this tab takes the name it is known by.
      const mine = this.devices.find((d) => d.device_uuid === this.app.device.uuid);
      if (mine && mine.device_name !== this.app.device.name) this.app.device.adopt(mine.device_name);
    }
    if (this.editing) return; // do not redraw under the person's typing
    const me = this.app.device.uuid;
    const list = $('device-list');
    const sorted = [...this.devices].sort(
      (a, b) => (b.device_uuid === me) - (a.device_uuid === me) || (b.online - a.online) || a.device_name.localeCompare(b.device_name),
    );
    const folded = sorted.filter((d) => !d.online && !d.is_active && d.device_uuid !== me);
    const shown = this.showOffline ? sorted : sorted.filter((d) => !folded.includes(d));
    const toggle = folded.length
      ? h('li', { class: 'device-fold' }, h('button', {
          class: 'btn btn-ghost btn-sm',
          type: 'button',
          dataset: { testid: 'devices-offline-toggle' },
          onclick: () => { this.showOffline = !this.showOffline; this.render(); },
        }, this.showOffline ? 'Hide offline devices' : `Show ${folded.length} offline device${folded.length === 1 ? '' : 's'}`))
      : null;
    list.replaceChildren(...shown.map((d) => this.row(d, d.device_uuid === me)), ...(toggle ? [toggle] : []));
    const online = this.devices.filter((d) => d.online).length;
    $('devices-count').textContent = `${online} of ${this.devices.length} online`;
  }

  row(d, mine) {
    const mobile = /mobile|android|ios/i.test(d.device_platform || '');
    const box = /us-speaker/i.test(d.device_platform || '');
    const status = [mine ? 'This device' : null, d.online ? 'online' : 'offline', d.is_active ? 'the speaker' : null].filter(Boolean).join(' · ');
    return h(
      'li',
      {
        class: `device-row${d.is_active ? ' is-active' : ''}${d.online ? ' is-online' : ''}`,
        dataset: { testid: 'device-row', deviceUuid: d.device_uuid, online: String(d.online), active: String(d.is_active), mine: String(mine) },
      },
      h('span', { class: 'device-icon', html: box ? icons.speaker : mobile ? icons.phone : icons.device }),
      h(
        'span',
        { class: 'device-text' },
        h('span', { class: 'device-title' },
          h('span', { class: `dot${d.online ? ' dot-on' : ''}`, role: 'img', 'aria-label': d.online ? 'online' : 'offline', dataset: { testid: 'device-online' } }),
          h('span', { class: 'device-name-text', dataset: { testid: 'device-row-name' } }, d.device_name),
          // Renaming re-registers the device, which counts as its heartbeat: only devices that
          // are online anyway (or this one) can be renamed from here.
          mine || d.online ? iconButton(icons.edit, `Rename ${d.device_name}`, 'device-rename', () => this.startRename(d, mine)) : null,
        ),
        h('span', { class: 'device-sub' }, status),
      ),
      d.is_active
        ? h('span', { class: 'badge', dataset: { testid: 'device-speaker-badge' } }, h('span', { class: 'eq eq-sm' }, h('i'), h('i'), h('i')), 'Speaker')
        : h('button', {
            class: `btn btn-sm ${mine ? 'btn-primary' : 'btn-ghost'}`,
            type: 'button',
            dataset: { testid: 'device-make-speaker' },
            disabled: !mine && !d.online,
            title: mine ? 'Play on this device' : d.online ? `Play on ${d.device_name}` : `${d.device_name} is offline`,
            onclick: () => this.choose(d),
          }, mine ? 'Play here' : 'Play there'),
      !mine && !d.is_active && !d.online
        ? iconButton(icons.close, `Forget ${d.device_name}`, 'device-forget', () => this.app.commands.forgetDevice(d))
        : null,
    );
  }

  startRename(d, mine) {
    const row = $('device-list').querySelector(`[data-device-uuid="${d.device_uuid}"]`);
    const label = row?.querySelector('[data-testid=device-row-name]');
    if (!label) return;
    this.editing = d.device_uuid;
    const input = h('input', {
      class: 'device-name-input',
      value: d.device_name,
      maxlength: 100,
      'aria-label': `New name for ${d.device_name}`,
      spellcheck: 'false',
      dataset: { testid: 'device-name-input' },
    });
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      this.editing = null;
      if (save && name && name !== d.device_name) await this.app.commands.renameDevice(d, name, mine);
      this.render();
      this.app.sync.refreshDevices();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true); }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); finish(false); }
    });
    input.addEventListener('blur', () => finish(true));
    label.replaceWith(input);
    row.querySelector('[data-testid=device-rename]')?.remove();
    input.focus();
    input.select();
  }
}
