// The cluster page: whether this daemon is in a swarm; its nodes
// (drain/activate) and services (scale in place, update the image,
// roll back, remove, tasks and their nodes), created from a form
// (service.js), through the Docker API's swarm
// endpoints, each change sent with the object's version as the CLI does.

import { docker } from './api.js';
import { h, esc, bytes, header, toast, prompt, confirmAction } from './dom.js';
import { createServiceDialog } from './service.js';

const q = (o) => new URLSearchParams(o).toString();

export function render(main) {
  main.append(header('Cluster', 'Swarm mode: nodes and services.'));
  const body = h('div');
  main.append(body);
  let timer = null;

  async function draw() {
    const info = await docker.get('/info');
    const state = info.Swarm?.LocalNodeState || 'inactive';
    if (state !== 'active') {
      body.replaceChildren(h('div', { class: 'card empty', id: 'not-in-cluster' },
        h('h2', {}, 'Not in a cluster'),
        h('p', { class: 'muted' }, 'This daemon is not part of a swarm. Start one with ', h('code', {}, 'docker swarm init'), ' or join one with ', h('code', {}, 'docker swarm join'), '.')));
      return;
    }
    if (!info.Swarm.ControlAvailable) {
      body.replaceChildren(h('div', { class: 'card empty', id: 'worker-node' }, 'This node is a worker: nodes and services are managed from a manager.'));
      return;
    }
    const [nodes, services, tasks] = await Promise.all([docker.get('/nodes'), docker.get('/services?status=true'), docker.get('/tasks')]);
    const nodeName = Object.fromEntries(nodes.map((n) => [n.ID, n.Description?.Hostname || n.ID.slice(0, 12)]));
    const nodeRows = nodes.map((n) => `<tr data-node="${esc(n.ID)}" data-availability="${esc(n.Spec?.Availability)}">
      <td><strong>${esc(n.Description?.Hostname)}</strong>${n.ID === info.Swarm.NodeID ? ' <span class="muted small">(this node)</span>' : ''}</td>
      <td>${esc(n.Spec?.Role)}${n.ManagerStatus?.Leader ? ' <span class="badge st-created">leader</span>' : ''}</td>
      <td><span class="badge st-${n.Status?.State === 'ready' ? 'running' : 'exited'}">${esc(n.Status?.State)}</span></td>
      <td class="availability">${esc(n.Spec?.Availability)}</td>
      <td class="num">${(n.Description?.Resources?.NanoCPUs || 0) / 1e9}</td>
      <td class="num">${bytes(n.Description?.Resources?.MemoryBytes || 0)}</td>
      <td class="row-actions">${n.Spec?.Availability === 'active'
    ? '<button class="btn small" data-node-act="drain">drain</button><button class="btn small" data-node-act="pause">pause</button>'
    : '<button class="btn small" data-node-act="active">activate</button>'}</td></tr>`).join('');
    const svcRows = services.map((s) => {
      const replicated = s.Spec?.Mode?.Replicated;
      const st = s.ServiceStatus;
      const mine = tasks.filter((t) => t.ServiceID === s.ID && t.DesiredState !== 'shutdown');
      const running = st ? st.RunningTasks : mine.filter((t) => t.Status?.State === 'running').length;
      const desired = st ? st.DesiredTasks : (replicated?.Replicas ?? mine.length);
      const taskList = mine.sort((a, b) => (a.Slot || 0) - (b.Slot || 0)).map((t) =>
        `<div class="small"><span class="mono">${esc(s.Spec.Name)}.${t.Slot || nodeName[t.NodeID] || ''}</span> on ${esc(nodeName[t.NodeID] || 'unassigned')}: <span class="badge st-${t.Status?.State === 'running' ? 'running' : 'created'}">${esc(t.Status?.State)}</span> ${esc(t.Status?.Err || '')}</div>`).join('');
      return `<tr data-service="${esc(s.ID)}" data-name="${esc(s.Spec?.Name)}">
        <td><strong>${esc(s.Spec?.Name)}</strong><div class="tasks">${taskList}</div></td>
        <td class="mono small">${esc((s.Spec?.TaskTemplate?.ContainerSpec?.Image || '').split('@')[0])}</td>
        <td>${replicated ? 'replicated' : s.Spec?.Mode?.Global ? 'global' : 'job'}</td>
        <td class="num replicas">${running}/${desired}</td>
        <td class="row-actions">${replicated ? '<button class="btn small" data-svc-act="scale">scale</button>' : ''}<button class="btn small" data-svc-act="image">update image</button><button class="btn small" data-svc-act="rollback">rollback</button><button class="btn small danger" data-svc-act="remove">remove</button></td></tr>`;
    }).join('');
    body.replaceChildren(
      h('h2', {}, 'Nodes'),
      h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'nodes', html: `<thead><tr><th>Hostname</th><th>Role</th><th>State</th><th>Availability</th><th class="num">CPUs</th><th class="num">Memory</th><th></th></tr></thead><tbody>${nodeRows}</tbody>` })),
      h('div', { class: 'section-head' }, h('h2', {}, 'Services'),
        h('button', { class: 'btn primary change', id: 'create-service', onclick: () => createServiceDialog().then((ok) => ok && draw()) }, '+ Create a service')),
      h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'services', html: `<thead><tr><th>Name and tasks</th><th>Image</th><th>Mode</th><th class="num">Replicas</th><th></th></tr></thead><tbody>${svcRows || '<tr><td colspan="5" class="empty">No services.</td></tr>'}</tbody>` })),
      h('p', { class: 'muted' }, 'Stacks from a compose file: ', h('a', { href: '#/stacks' }, 'Stacks'), '.'));
  }

  async function nodeAction(id, availability) {
    const n = await docker.get(`/nodes/${id}`);
    await docker.post(`/nodes/${id}/update?${q({ version: n.Version.Index })}`, { ...n.Spec, Availability: availability });
    toast(`${n.Description?.Hostname}: ${availability}`);
  }

  async function serviceUpdate(id, change, extra = {}) {
    const s = await docker.get(`/services/${id}`);
    const spec = structuredClone(s.Spec);
    change(spec);
    const r = await docker.postJson(`/services/${id}/update?${q({ version: s.Version.Index, ...extra })}`, spec);
    (r.Warnings || []).forEach((w) => toast(w, 'error'));
  }

  body.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-node-act], button[data-svc-act]');
    if (!b) return;
    const tr = b.closest('tr');
    try {
      if (b.dataset.nodeAct) {
        await nodeAction(tr.dataset.node, b.dataset.nodeAct);
      } else if (b.dataset.svcAct === 'scale') {
        const [, desired] = tr.querySelector('.replicas').textContent.split('/');
        await prompt(`Scale ${tr.dataset.name}`, 'Replicas', desired, (v) => {
          if (!/^\d+$/.test(v.trim())) throw new Error(`invalid replicas "${v}": a whole number`);
          return serviceUpdate(tr.dataset.service, (spec) => { spec.Mode.Replicated.Replicas = Number(v); });
        });
      } else if (b.dataset.svcAct === 'image') {
        await prompt(`Update ${tr.dataset.name}`, 'Image', '', (v) => serviceUpdate(tr.dataset.service, (spec) => {
          spec.TaskTemplate.ContainerSpec.Image = v.trim();
          spec.TaskTemplate.ForceUpdate = (spec.TaskTemplate.ForceUpdate || 0) + 1;
        }));
      } else if (b.dataset.svcAct === 'remove') {
        if (!(await confirmAction('Remove service', `Remove ${tr.dataset.name} and its tasks?`, 'Remove'))) return;
        await docker.del(`/services/${tr.dataset.service}`);
        toast(`removed ${tr.dataset.name}`);
      } else if (b.dataset.svcAct === 'rollback') {
        await serviceUpdate(tr.dataset.service, () => {}, { rollback: 'previous' });
        toast(`${tr.dataset.name}: rolling back`);
      }
    } catch (err) { toast(err.message, 'error'); }
    draw().catch(() => {});
  });

  draw().catch((e) => body.replaceChildren(h('div', { class: 'card empty' }, e.message)));
  timer = setInterval(() => { if (!document.querySelector('.modal')) draw().catch(() => {}); }, 3000);
  return () => clearInterval(timer);
}
