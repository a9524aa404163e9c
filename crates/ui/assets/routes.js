// The HTTP router's table (`berth router ls`): hosts and paths, their
// backends with live counters, and the containers whose labels were
// refused, with the reason. Read-only: routes come from container labels
// and apps' releases.

import { docker } from './api.js';
import { h, esc, header } from './dom.js';

export function render(main) {
  main.append(header('Routes', 'The HTTP router: hosts and paths to containers, from their berth.http.* labels and the apps.'));
  const body = h('div');
  main.append(body);

  async function draw() {
    let report;
    try {
      report = await docker.get('/berth/v1/routes');
    } catch (e) {
      body.replaceChildren(h('div', { class: 'card empty', id: 'router-off' }, e.message));
      return;
    }
    const rows = report.routes.map((r) => {
      const backends = r.backends.map((b) => `<div class="backend small" data-container="${esc(b.container)}">
        <span class="mono">${esc(b.container)}</span> <span class="muted mono">${esc(b.addr)}</span>
        · <span class="requests">${b.requests}</span> request${b.requests === 1 ? '' : 's'} · <span class="in-flight">${b.in_flight}</span> in flight
        ${b.ejected ? '<span class="badge st-exited">ejected</span>' : ''}</div>`).join('');
      return `<tr data-host="${esc(r.host)}" data-path="${esc(r.path)}">
        <td><a href="http://${esc(r.host)}/" target="_blank" rel="noopener"><strong>${esc(r.host)}</strong></a></td>
        <td class="mono">${esc(r.path)}</td>
        <td>${backends || '<span class="muted">no ready backend</span>'}</td>
        <td class="small">${esc(r.options.balance)}</td></tr>`;
    }).join('');
    const refused = report.errors.map((e) => `<tr data-container="${esc(e.container)}">
      <td><a href="#/containers/${encodeURIComponent(e.container)}"><strong>${esc(e.container)}</strong></a></td>
      <td class="mono small">${esc(e.label)}=${esc(e.value)}</td><td class="reason">${esc(e.reason)}</td></tr>`).join('');
    body.replaceChildren(
      h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'routes', html: `<thead><tr><th>Host</th><th>Path</th><th>Backends</th><th>Balance</th></tr></thead><tbody>${rows || '<tr><td colspan="4" class="empty">No routes: label a container berth.http.host=NAME, or create an app.</td></tr>'}</tbody>` })),
      h('h2', {}, 'Refused labels'),
      h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'refused', html: `<thead><tr><th>Container</th><th>Label</th><th>Why</th></tr></thead><tbody>${refused || '<tr><td colspan="3" class="empty">None.</td></tr>'}</tbody>` })));
  }

  draw().catch((e) => body.replaceChildren(h('div', { class: 'card empty' }, e.message)));
  const timer = setInterval(() => draw().catch(() => {}), 2000);
  return () => clearInterval(timer);
}
