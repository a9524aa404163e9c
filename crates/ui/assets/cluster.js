// The cluster page: whether this daemon is in a swarm, and its nodes and
// services when it is (read-only for now).

import { docker } from './api.js';
import { h, esc, header, notImplemented } from './dom.js';

function table(id, cols, rows) {
  const t = h('table', { class: 'table', id });
  t.innerHTML = `<thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead>
    <tbody>${rows.map((r) => `<tr>${r.map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('')}</tbody>`;
  return h('div', { class: 'card flush' }, t);
}

export function render(main) {
  main.append(header('Cluster', 'Swarm mode: nodes and services.'));
  (async () => {
    const info = await docker.get('/info');
    const state = info.Swarm?.LocalNodeState || 'inactive';
    if (state !== 'active') {
      main.append(h('div', { class: 'card empty', id: 'not-in-cluster' },
        h('h2', {}, 'Not in a cluster'),
        h('p', { class: 'muted' }, 'This daemon is not part of a swarm. Start one with ', h('code', {}, 'docker swarm init'), ' or join one with ', h('code', {}, 'docker swarm join'), '.')));
      return;
    }
    const [nodes, services] = await Promise.all([
      info.Swarm.ControlAvailable ? docker.get('/nodes') : [], info.Swarm.ControlAvailable ? docker.get('/services') : []]);
    main.append(h('h2', {}, 'Nodes'), table('nodes', ['Hostname', 'Role', 'State', 'Availability', 'CPUs', 'Memory'],
      nodes.map((n) => [n.Description?.Hostname, n.Spec?.Role, n.Status?.State, n.Spec?.Availability,
        String((n.Description?.Resources?.NanoCPUs || 0) / 1e9), `${Math.round((n.Description?.Resources?.MemoryBytes || 0) / 2 ** 20)} MiB`])));
    main.append(h('h2', {}, 'Services'), table('services', ['Name', 'Image', 'Mode', 'Replicas'],
      services.map((s) => [s.Spec?.Name, (s.Spec?.TaskTemplate?.ContainerSpec?.Image || '').split('@')[0],
        s.Spec?.Mode?.Replicated ? 'replicated' : 'global', String(s.Spec?.Mode?.Replicated?.Replicas ?? '')])));
    main.append(notImplemented('drain/activate, scale, update, rollback, tasks and stacks from the dashboard.'));
  })().catch((e) => main.append(h('div', { class: 'card empty' }, e.message)));
  return null;
}
