// Apps (Dokku's workflow): the list, creating one (name and domains), and
// an app's page: its git remote, domains, config, process scale, releases
// with rollback, restart and removal. Records go through the API's
// /berth/v1/apps; a change that needs new containers (config, scale,
// restart, rollback) is rolled out by the daemon (/api/apps/NAME/...),
// as `berth app` does: checked, then switched, the old release drained;
// its lines stream to the page as they come.

import { docker, request, jsonLines } from './api.js';
import { h, esc, header, toast, modal, field, confirmAction } from './dom.js';

const enc = encodeURIComponent;
const words = (s) => s.split(/[\s,]+/).filter(Boolean);

export function render(main) {
  const tbody = h('tbody');
  main.append(
    header('Apps', 'git push to deploy: built from the Dockerfile, checked, then routed to the app\'s domains.',
      h('button', { class: 'btn primary', id: 'create-app', onclick: () => createDialog().then((ok) => ok && refresh()) }, '+ Create an app')),
    h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'apps' },
      h('thead', {}, h('tr', {}, ['Name', 'Release', 'Domains'].map((t) => h('th', {}, t)))), tbody)));

  async function refresh() {
    const apps = await docker.get('/berth/v1/apps');
    tbody.innerHTML = apps.map((a) => `<tr data-name="${esc(a.name)}">
      <td><a href="#/apps/${enc(a.name)}"><strong>${esc(a.name)}</strong></a></td>
      <td class="release">${esc(a.current || '–')}</td>
      <td>${a.domains.map((d) => `<span class="tag">${esc(d)}</span>`).join(' ')}</td></tr>`).join('')
      || '<tr><td colspan="3" class="empty">No apps yet.</td></tr>';
  }

  function createDialog() {
    return modal('Create an app', (close) => {
      const name = h('input', { name: 'name', required: true, placeholder: 'lowercase letters, digits and -' });
      const domains = h('input', { name: 'domains', placeholder: 'empty: NAME.localhost' });
      const f = { name: field('Name', name), domains: field('Domains', domains, 'Host names, separated by spaces or commas.') };
      return h('form', {
        class: 'form', id: 'app-form', onsubmit: async (e) => {
          e.preventDefault();
          Object.values(f).forEach((x) => x.setError(''));
          try {
            await docker.postJson('/berth/v1/apps', { Name: name.value.trim(), Domains: words(domains.value) });
            toast(`created app ${name.value.trim()}`);
            close(true);
          } catch (err) { (/domain/i.test(err.message) ? f.domains : f.name).setError(err.message); }
        },
      }, f.name, f.domains, h('div', { class: 'form-actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'),
        h('button', { class: 'btn primary', type: 'submit' }, 'Create')));
    });
  }

  refresh().catch((e) => toast(e.message, 'error'));
  return null;
}

// One app's page.
export function renderApp(main, name) {
  const body = h('div');
  const log = h('pre', { class: 'log-box', id: 'rollout-log', hidden: true });
  main.append(header(name, 'An app', h('a', { class: 'btn', href: '#/apps' }, '← Apps'),
    h('button', { class: 'btn change', id: 'app-restart', onclick: () => rollout('restart') }, 'Restart'),
    h('button', { class: 'btn danger change', id: 'app-remove', onclick: remove }, 'Remove')), log, body);
  let busy = false;

  // Runs a rollout on the daemon; its lines shown as they come.
  async function rollout(kind, release, body) {
    if (busy) return;
    busy = true;
    main.classList.add('busy');
    log.hidden = false;
    log.textContent = `${kind}: rolling out…`;
    const lines = [];
    try {
      const resp = await request('POST', `/api/apps/${enc(name)}/${kind}`, body || (release ? { Release: release } : {}));
      for await (const m of jsonLines(resp)) {
        if (m.line !== undefined) { lines.push(m.line); log.textContent = lines.join('\n'); }
        if (m.error) throw new Error(m.error);
      }
      toast(`${name}: ${kind} done`);
    } catch (err) {
      log.textContent = [...lines, `error: ${err.message}`].join('\n');
      toast(err.message, 'error');
    } finally {
      busy = false;
      main.classList.remove('busy');
      draw().catch(() => {});
    }
  }

  async function change(what, bodyJson, thenRollout) {
    const app = await docker.postJson(`/berth/v1/apps/${enc(name)}/${what}`, bodyJson);
    if (thenRollout) {
      // The change's own release (`Set A`, `Scale web=2`), not a forced restart.
      if (app.current) await rollout('restart', undefined, { Apply: true });
      else toast('recorded: it applies from the first push');
    }
    return app;
  }

  async function remove() {
    if (!(await confirmAction('Remove app', `Remove ${name}: its containers, repository and routes?`, 'Remove'))) return;
    try {
      await docker.del(`/berth/v1/apps/${enc(name)}`);
      toast(`removed ${name}`);
      location.hash = '#/apps';
    } catch (err) { toast(err.message, 'error'); }
  }

  // A one-line form whose error shows beside its field.
  function lineForm(id, label, placeholder, button, submit) {
    const input = h('input', { name: id, placeholder });
    const f = field(label, input);
    return h('form', {
      class: 'form inline change', id, onsubmit: async (e) => {
        e.preventDefault();
        f.setError('');
        try { await submit(input.value.trim()); input.value = ''; draw().catch(() => {}); } catch (err) { f.setError(err.message); }
      },
    }, f, h('button', { class: 'btn primary', type: 'submit' }, button));
  }

  async function draw() {
    const info = await docker.get(`/berth/v1/apps/${enc(name)}`);
    const app = info.App;
    const current = app.current;
    const cur = app.releases.find((r) => `v${r.version}` === current);
    const types = [...new Set(['web', ...((cur?.processes) || []).map(([k]) => k), ...Object.keys(app.scale || {})])];
    const domains = h('div', { id: 'domains' }, app.domains.map((d) => h('span', { class: 'tag', 'data-domain': d }, d, ' ',
      h('button', { class: 'icon-btn change', title: `Remove ${d}`, 'data-remove-domain': d, onclick: async () => {
        try { await change('domains', { Remove: [d] }); draw(); } catch (err) { toast(err.message, 'error'); }
      } }, '✕'))));
    const config = h('table', { class: 'table', id: 'config', html: `<tbody>${Object.entries(app.config || {}).map(([k, v]) =>
      `<tr data-key="${esc(k)}"><td class="mono">${esc(k)}</td><td class="mono">${esc(v)}</td><td class="row-actions"><button class="btn small change" data-unset="${esc(k)}">unset</button></td></tr>`).join('') || '<tr><td class="empty">No settings.</td></tr>'}</tbody>` });
    config.addEventListener('click', async (e) => {
      const b = e.target.closest('button[data-unset]');
      if (b) await change('config', { Unset: [b.dataset.unset] }, true).catch((err) => toast(err.message, 'error'));
    });
    const scaleInputs = types.map((t) => h('label', { class: 'field inline-field' }, h('span', { class: 'label' }, t),
      h('input', { name: `scale-${t}`, type: 'number', min: '0', value: String(app.scale?.[t] ?? 1), 'data-type': t })));
    const scaleErr = h('div', { class: 'field-error', role: 'alert' });
    const scale = h('form', {
      class: 'form inline change', id: 'scale-form', onsubmit: async (e) => {
        e.preventDefault();
        scaleErr.textContent = '';
        const counts = {};
        for (const i of scale.querySelectorAll('input')) {
          if (!/^\d+$/.test(i.value)) { scaleErr.textContent = `${i.dataset.type}: a whole number`; return; }
          counts[i.dataset.type] = Number(i.value);
        }
        try { await change('scale', counts, true); } catch (err) { scaleErr.textContent = err.message; }
      },
    }, ...scaleInputs, h('button', { class: 'btn primary', type: 'submit' }, 'Scale'), scaleErr);
    const releases = [...app.releases].reverse().map((r) => `<tr data-release="v${r.version}"${`v${r.version}` === current ? ' class="current"' : ''}>
      <td><strong>v${r.version}</strong>${`v${r.version}` === current ? ' <span class="badge st-running">current</span>' : ''}</td>
      <td class="mono small">${esc(r.image)}</td><td class="mono small">${esc(r.rev)}</td>
      <td class="small muted">${r.created ? esc(new Date(Number(r.created) * 1000).toLocaleString()) : ''}</td>
      <td class="small">${esc(r.description || '–')}</td>
      <td class="row-actions">${`v${r.version}` === current ? '' : `<button class="btn small change" data-rollback="v${r.version}">roll back to v${r.version}</button>`}</td></tr>`).join('');
    const relTable = h('table', { class: 'table', id: 'releases', html: `<thead><tr><th>Release</th><th>Image</th><th>Rev</th><th>Created</th><th>Description</th><th></th></tr></thead><tbody>${releases || '<tr><td colspan="6" class="empty">No release yet: push to deploy.</td></tr>'}</tbody>` });
    relTable.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-rollback]');
      if (b) rollout('rollback', b.dataset.rollback);
    });
    // On a swarm manager the processes are services: their running tasks of the replicas.
    const services = (info.Services || []).map((s) => `<tr data-service="${esc(s.Name)}"><td><a href="#/cluster">${esc(s.Name)}</a> <span class="muted small">service</span></td><td>${esc(s.Process)}</td><td>${esc(s.Release)}</td><td><span class="badge st-${s.Running === s.Replicas ? 'running' : 'restarting'}">${esc(`${s.Running}/${s.Replicas} running`)}</span></td></tr>`).join('');
    const procs = services + (info.Containers || []).map((c) => `<tr data-container="${esc(c.Name)}"><td><a href="#/containers/${enc(c.Id)}">${esc(c.Name)}</a></td><td>${esc(c.Process)}</td><td>${esc(c.Release)}</td><td><span class="badge st-${esc(c.State)}">${esc(c.State)}</span></td></tr>`).join('');
    body.replaceChildren(
      h('div', { class: 'card', id: 'app-info' },
        h('div', {}, h('span', { class: 'label muted' }, 'Push to deploy: '), h('code', { id: 'remote' }, `git push ${info.Remote} main`)),
        h('div', { class: 'small muted' }, `Over HTTP(S): <api-url>/berth/v1/apps/${name}/git · branch ${app.branch} · port ${app.port}`),
        h('div', {}, h('span', { class: 'label muted' }, 'Release: '), h('strong', { id: 'current' }, current || 'none (push to deploy)'))),
      h('h2', {}, 'Domains'),
      h('div', { class: 'card' }, domains, lineForm('domain-form', 'Add a domain', 'app.example.com', 'Add', (v) => change('domains', { Add: words(v) }))),
      h('h2', {}, 'Config'),
      h('div', { class: 'card' }, config, lineForm('config-form', 'Set', 'KEY=VALUE (several: separated by spaces)', 'Set', async (v) => {
        const set = {};
        for (const p of words(v)) {
          const i = p.indexOf('=');
          if (i <= 0) throw new Error(`${JSON.stringify(p)}: expected KEY=VALUE`);
          set[p.slice(0, i)] = p.slice(i + 1);
        }
        await change('config', { Set: set }, true);
      })),
      h('h2', {}, 'Processes'),
      h('div', { class: 'card' }, scale, h('table', { class: 'table', id: 'processes', html: `<thead><tr><th>Container</th><th>Type</th><th>Release</th><th>State</th></tr></thead><tbody>${procs || '<tr><td colspan="4" class="empty">None running.</td></tr>'}</tbody>` })),
      h('h2', {}, 'Releases'),
      h('div', { class: 'card flush' }, relTable));
  }

  draw().catch((e) => body.replaceChildren(h('div', { class: 'card empty' }, e.message)));
  return null;
}
