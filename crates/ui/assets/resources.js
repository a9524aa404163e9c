// Volumes and networks: list, create, inspect, remove, and which
// containers use each.

import { docker } from './api.js';
import { h, esc, header, toast, modal, field, confirmAction, jsonView } from './dom.js';

// A resource page: a table, a create form, inspect and remove per row.
function resourcePage(main, cfg) {
  const tbody = h('tbody');
  main.append(
    header(cfg.title, cfg.sub, h('button', { class: 'btn primary', id: `create-${cfg.kind}`, onclick: () => createDialog().then((ok) => ok && refresh()) }, `+ Create a ${cfg.kind}`)),
    h('div', { class: 'card flush' }, h('table', { class: 'table', id: `${cfg.kind}s` },
      h('thead', {}, h('tr', {}, [...cfg.columns, 'Used by', ''].map((t) => h('th', {}, t)))), tbody)));

  async function refresh() {
    const [items, cs] = await Promise.all([cfg.list(), docker.get('/containers/json?all=1')]);
    tbody.innerHTML = items.map((it) => {
      const users = cs.filter((c) => cfg.uses(c, it)).map((c) => c.Names[0].replace(/^\//, ''));
      return `<tr data-key="${esc(cfg.key(it))}">${cfg.cells(it).map((v) => `<td>${v}</td>`).join('')}
        <td class="small">${users.length ? users.map((u) => `<span class="tag">${esc(u)}</span>`).join(' ') : '<span class="muted">unused</span>'}</td>
        <td class="row-actions"><button class="btn small" data-act="inspect">inspect</button>${cfg.removable(it) ? '<button class="btn small danger" data-act="remove">remove</button>' : ''}</td></tr>`;
    }).join('') || `<tr><td colspan="9" class="empty">No ${cfg.kind}s.</td></tr>`;
  }

  tbody.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    const key = b.closest('tr').dataset.key;
    try {
      if (b.dataset.act === 'inspect') {
        const doc = await docker.get(`${cfg.path}/${encodeURIComponent(key)}`);
        await modal(`${cfg.kind} ${key}`, () => jsonView(doc), true);
      } else {
        if (!(await confirmAction(`Remove ${cfg.kind}`, `Remove ${key}?`, 'Remove'))) return;
        await docker.del(`${cfg.path}/${encodeURIComponent(key)}`);
        toast(`removed ${key}`);
        refresh();
      }
    } catch (err) { toast(err.message, 'error'); }
  });
  function createDialog() {
    return modal(`Create a ${cfg.kind}`, (close) => {
      const fields = cfg.form();
      const err = h('div', { class: 'form-error', role: 'alert' });
      return h('form', {
        class: 'form', id: `${cfg.kind}-form`, onsubmit: async (e) => {
          e.preventDefault();
          Object.values(fields).forEach((f) => f.setError(''));
          err.textContent = '';
          try {
            await cfg.create(fields);
            toast(`created ${cfg.kind}`);
            close(true);
          } catch (ex) {
            const f = cfg.fieldOf(ex.message);
            if (f && fields[f]) fields[f].setError(ex.message); else err.textContent = ex.message;
          }
        },
      }, ...Object.values(fields), err, h('div', { class: 'form-actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'),
        h('button', { class: 'btn primary', type: 'submit' }, 'Create')));
    });
  }

  refresh().catch((e) => toast(e.message, 'error'));
  return null;
}

const value = (f) => f.querySelector('input, select').value.trim();

export function renderVolumes(main) {
  return resourcePage(main, {
    kind: 'volume', title: 'Volumes', sub: 'Named storage that outlives containers.', path: '/volumes',
    list: async () => (await docker.get('/volumes')).Volumes || [],
    key: (v) => v.Name,
    columns: ['Name', 'Driver', 'Mount point', 'Created'],
    cells: (v) => [`<strong>${esc(v.Name)}</strong>`, esc(v.Driver), `<span class="mono small">${esc(v.Mountpoint)}</span>`,
      `<span class="small muted">${v.CreatedAt ? esc(new Date(v.CreatedAt).toLocaleString()) : ''}</span>`],
    uses: (c, v) => (c.Mounts || []).some((m) => m.Name === v.Name),
    removable: () => true,
    form: () => ({
      name: field('Name', h('input', { name: 'name', placeholder: 'empty: a generated name' })),
      driver: field('Driver', h('select', { name: 'driver' }, h('option', { value: 'local' }, 'local'))),
    }),
    create: (f) => docker.postJson('/volumes/create', { Name: value(f.name), Driver: value(f.driver) }),
    fieldOf: (m) => (/driver/i.test(m) ? 'driver' : 'name'),
  });
}

export function renderNetworks(main) {
  const builtin = ['bridge', 'host', 'none'];
  return resourcePage(main, {
    kind: 'network', title: 'Networks', sub: 'How containers reach each other and the world.', path: '/networks',
    list: () => docker.get('/networks'),
    key: (n) => n.Name,
    columns: ['Name', 'Driver', 'Subnet', 'Scope'],
    cells: (n) => [`<strong>${esc(n.Name)}</strong>`, esc(n.Driver),
      `<span class="mono small">${esc((n.IPAM?.Config || []).map((c) => c.Subnet).filter(Boolean).join(', '))}</span>`, esc(n.Scope)],
    uses: (c, n) => Object.keys(c.NetworkSettings?.Networks || {}).includes(n.Name),
    removable: (n) => !builtin.includes(n.Name),
    form: () => ({
      name: field('Name', h('input', { name: 'name', required: true })),
      driver: field('Driver', h('select', { name: 'driver' }, ['bridge', 'macvlan', 'ipvlan'].map((d) => h('option', { value: d }, d)))),
      subnet: field('Subnet', h('input', { name: 'subnet', placeholder: 'empty: from the address pools, e.g. 10.10.0.0/24' })),
    }),
    create: (f) => docker.postJson('/networks/create', {
      Name: value(f.name), Driver: value(f.driver), CheckDuplicate: true,
      IPAM: value(f.subnet) ? { Config: [{ Subnet: value(f.subnet) }] } : undefined,
    }),
    fieldOf: (m) => (/subnet|cidr|address|pool|overlap/i.test(m) ? 'subnet' : /driver/i.test(m) ? 'driver' : 'name'),
  });
}
