// Stacks: deploy a compose file (pasted or uploaded) on a swarm manager,
// list the stacks (services labelled com.docker.stack.namespace, as
// `docker stack ls` counts them), a stack's services and tasks, and remove
// a stack (services, then secrets, configs and networks of the label, as
// `docker stack rm`). The daemon converts the file (/api/stacks/NAME):
// the CLI's conversion runs client-side, which a browser cannot do.

import { docker, request } from './api.js';
import { h, esc, header, toast, modal, field, confirmAction } from './dom.js';

const NS = 'com.docker.stack.namespace';
const enc = encodeURIComponent;
const byLabel = (stack) => `filters=${enc(JSON.stringify({ label: [stack ? `${NS}=${stack}` : NS] }))}`;

// Manager or not: the page says what it can do here.
async function swarmState() {
  const info = await docker.get('/info');
  if (info.Swarm?.LocalNodeState !== 'active') return 'Not in a cluster: stacks need swarm mode (docker swarm init).';
  if (!info.Swarm.ControlAvailable) return 'This node is a worker: stacks are deployed from a manager.';
  return null;
}

export function render(main) {
  const body = h('div');
  main.append(header('Stacks', 'Services deployed together from a compose file, as docker stack deploy does.',
    h('button', { class: 'btn primary', id: 'deploy-stack', onclick: () => deployDialog().then((ok) => ok && draw()) }, '+ Deploy a stack')), body);

  async function draw() {
    const why = await swarmState();
    if (why) { body.replaceChildren(h('div', { class: 'card empty', id: 'no-stacks' }, why)); return; }
    const services = await docker.get(`/services?${byLabel()}`);
    const stacks = {};
    for (const s of services) (stacks[s.Spec.Labels[NS]] ||= []).push(s);
    const rows = Object.keys(stacks).sort().map((n) => `<tr data-stack="${esc(n)}">
      <td><a href="#/stacks/${enc(n)}"><strong>${esc(n)}</strong></a></td><td class="num services">${stacks[n].length}</td>
      <td class="row-actions"><button class="btn small danger" data-act="remove">remove</button></td></tr>`).join('');
    body.replaceChildren(h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'stacks',
      html: `<thead><tr><th>Name</th><th class="num">Services</th><th></th></tr></thead><tbody>${rows || '<tr><td colspan="3" class="empty">No stacks.</td></tr>'}</tbody>` })));
  }

  body.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act=remove]');
    if (!b) return;
    const name = b.closest('tr').dataset.stack;
    await removeStack(name);
    draw().catch(() => {});
  });

  draw().catch((e) => body.replaceChildren(h('div', { class: 'card empty' }, e.message)));
  const timer = setInterval(() => { if (!document.querySelector('.modal')) draw().catch(() => {}); }, 3000);
  return () => clearInterval(timer);
}

async function removeStack(name) {
  if (!(await confirmAction('Remove stack', `Remove stack ${name}: its services, networks, secrets and configs?`, 'Remove'))) return false;
  try {
    const f = byLabel(name);
    for (const s of await docker.get(`/services?${f}`)) await docker.del(`/services/${s.ID}`);
    for (const s of await docker.get(`/secrets?${f}`)) await docker.del(`/secrets/${s.ID}`);
    for (const c of await docker.get(`/configs?${f}`)) await docker.del(`/configs/${c.ID}`);
    // A network goes once the services' tasks have left it.
    for (const n of await docker.get(`/networks?${f}`)) {
      for (let i = 0; ; i++) {
        try { await docker.del(`/networks/${n.Id}`); break; } catch (err) {
          if (i >= 20) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
    toast(`removed stack ${name}`);
    return true;
  } catch (err) { toast(err.message, 'error'); return false; }
}

// The compose file: typed or pasted, or read from a file the user picks.
function deployDialog(name = '', text = '') {
  return modal('Deploy a stack', (close) => {
    const nameIn = h('input', { name: 'name', value: name, required: true, placeholder: 'e.g. app' });
    const file = h('input', { name: 'file', type: 'file', accept: '.yml,.yaml,text/yaml' });
    const compose = h('textarea', { name: 'compose', class: 'compose', spellcheck: 'false', placeholder: 'services:\n  web:\n    image: nginx:alpine\n    ports: ["8080:80"]\n    deploy:\n      replicas: 2' }, text);
    file.addEventListener('change', async () => { if (file.files[0]) compose.value = await file.files[0].text(); });
    const f = { name: field('Stack name', nameIn), compose: field('Compose file', compose, 'Paste it, or pick a file:'), file: field('', file) };
    const warnings = h('div', { class: 'small muted', id: 'stack-warnings' });
    const submit = h('button', { class: 'btn primary', type: 'submit', id: 'stack-submit' }, 'Deploy');
    return h('form', {
      class: 'form', id: 'stack-form', novalidate: true, onsubmit: async (e) => {
        e.preventDefault();
        Object.values(f).forEach((x) => x.setError(''));
        const n = nameIn.value.trim();
        if (!n) { f.name.setError('a stack name is required'); return; }
        submit.disabled = true;
        try {
          const r = await (await request('POST', `/api/stacks/${enc(n)}`, compose.value, 'application/yaml')).json();
          (r.Warnings || []).forEach((w) => toast(w, 'error'));
          toast(`stack ${n}: ${r.Created.length} created, ${r.Updated.length} updated`);
          close(true);
        } catch (err) {
          (/stack name/.test(err.message) ? f.name : f.compose).setError(err.message);
        } finally { submit.disabled = false; }
      },
    }, f.name, f.compose, f.file, warnings, h('div', { class: 'form-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'), submit));
  }, true);
}

// One stack: its services (image, mode, replicas, ports) and their tasks.
export function renderStack(main, name) {
  const body = h('div');
  main.append(header(`Stack ${name}`, 'Its services and their tasks.', h('a', { class: 'btn', href: '#/stacks' }, '← Stacks'),
    h('button', { class: 'btn danger', id: 'remove-stack', onclick: async () => { if (await removeStack(name)) location.hash = '#/stacks'; } }, 'Remove')), body);

  async function draw() {
    const f = byLabel(name);
    const [services, tasks, nodes] = await Promise.all([docker.get(`/services?status=true&${f}`), docker.get('/tasks'), docker.get('/nodes').catch(() => [])]);
    const nodeName = Object.fromEntries(nodes.map((n) => [n.ID, n.Description?.Hostname || n.ID.slice(0, 12)]));
    const rows = services.sort((a, b) => a.Spec.Name.localeCompare(b.Spec.Name)).map((s) => {
      const mine = tasks.filter((t) => t.ServiceID === s.ID && t.DesiredState !== 'shutdown').sort((a, b) => (a.Slot || 0) - (b.Slot || 0));
      const st = s.ServiceStatus || {};
      const ports = (s.Endpoint?.Ports || []).map((p) => `${p.PublishedPort}→${p.TargetPort}/${p.Protocol}`).join(', ');
      const taskList = mine.map((t) => `<div class="small task"><span class="mono">${esc(s.Spec.Name)}.${t.Slot || esc(nodeName[t.NodeID] || '')}</span> on ${esc(nodeName[t.NodeID] || 'unassigned')}: <span class="badge st-${t.Status?.State === 'running' ? 'running' : 'created'}">${esc(t.Status?.State)}</span> ${esc(t.Status?.Err || '')}</div>`).join('');
      return `<tr data-name="${esc(s.Spec.Name)}"><td><strong>${esc(s.Spec.Name)}</strong><div class="tasks">${taskList}</div></td>
        <td class="mono small">${esc((s.Spec.TaskTemplate?.ContainerSpec?.Image || '').split('@')[0])}</td>
        <td>${s.Spec.Mode?.Global ? 'global' : 'replicated'}</td><td class="num replicas">${st.RunningTasks ?? '?'}/${st.DesiredTasks ?? '?'}</td>
        <td class="mono small">${esc(ports)}</td></tr>`;
    }).join('');
    body.replaceChildren(h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'stack-services',
      html: `<thead><tr><th>Service and tasks</th><th>Image</th><th>Mode</th><th class="num">Replicas</th><th>Ports</th></tr></thead><tbody>${rows || '<tr><td colspan="5" class="empty">No services: this stack is gone.</td></tr>'}</tbody>` })));
  }

  draw().catch((e) => body.replaceChildren(h('div', { class: 'card empty' }, e.message)));
  const timer = setInterval(() => draw().catch(() => {}), 3000);
  return () => clearInterval(timer);
}
