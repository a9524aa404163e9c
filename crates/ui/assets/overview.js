// Host figures, counts of everything, and the engine's live event feed.

import { docker, request, subscribe } from './api.js';
import { h, bytes, esc, header } from './dom.js';

function meter(label, used, total, text) {
  const pct = total ? Math.min(100, (used / total) * 100) : 0;
  return h('div', { class: 'card stat' },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, `${pct.toFixed(0)}%`),
    h('div', { class: `bar${pct > 85 ? ' hot' : ''}` }, h('span', { style: `width:${pct}%` })),
    h('div', { class: 'muted small' }, text));
}

function count(label, n, href, detail) {
  return h('a', { class: 'card stat link', href },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, String(n)),
    h('div', { class: 'muted small' }, detail || '\u00a0'));
}

function eventLine(ev) {
  const t = new Date((ev.timeNano ? ev.timeNano / 1e6 : ev.time * 1000)).toLocaleTimeString();
  const name = ev.Actor?.Attributes?.name || (ev.Actor?.ID || ev.id || '').slice(0, 12);
  const li = h('li', { class: 'event' });
  li.innerHTML = `<time>${esc(t)}</time><span class="ev-type">${esc(ev.Type)}</span>
    <span class="ev-action">${esc(ev.Action)}</span><span class="ev-name">${esc(name)}</span>`;
  return li;
}

export function render(main) {
  const hostRow = h('div', { class: 'grid four', id: 'host-cards' });
  const countRow = h('div', { class: 'grid four', id: 'count-cards' });
  const feed = h('ul', { class: 'events', id: 'event-feed' });
  main.append(
    header('Overview', 'This host and everything berth runs on it.'),
    hostRow, countRow,
    h('section', { class: 'card' }, h('h2', {}, 'Live events'), feed,
      h('p', { class: 'muted small empty-note' }, 'Events appear here as they happen.')));

  async function refreshHost() {
    const hst = await (await request('GET', '/api/host')).json();
    hostRow.replaceChildren(
      meter('CPU', hst.cpu_percent, 100, `${hst.cpus} CPUs`),
      meter('Memory', hst.mem_used, hst.mem_total, `${bytes(hst.mem_used)} of ${bytes(hst.mem_total)}`),
      meter('Disk', hst.disk_used, hst.disk_total, `${bytes(hst.disk_used)} of ${bytes(hst.disk_total)} (${hst.disk_path})`),
      h('div', { class: 'card stat' }, h('div', { class: 'stat-label' }, 'Engine'),
        h('div', { class: 'stat-value small-value', id: 'engine-version' }, '…'),
        h('div', { class: 'muted small', id: 'engine-detail' }, '')));
    const v = await docker.get('/version');
    document.getElementById('engine-version').textContent = `berth ${v.Version}`;
    document.getElementById('engine-detail').textContent = `API ${v.ApiVersion} · ${v.Os}/${v.Arch}`;
  }

  async function refreshCounts() {
    const [cs, imgs, vols, nets] = await Promise.all([
      docker.get('/containers/json?all=1'), docker.get('/images/json'),
      docker.get('/volumes'), docker.get('/networks')]);
    const by = {};
    for (const c of cs) by[c.State] = (by[c.State] || 0) + 1;
    const detail = Object.entries(by).map(([s, n]) => `${n} ${s}`).join(' · ') || 'none yet';
    countRow.replaceChildren(
      count('Containers', cs.length, '#/containers', detail),
      count('Images', imgs.length, '#/images', bytes(imgs.reduce((a, i) => a + i.Size, 0))),
      count('Volumes', (vols.Volumes || []).length, '#/volumes'),
      count('Networks', nets.length, '#/networks'));
    countRow.dataset.running = by.running || 0;
  }

  refreshHost().catch(() => {});
  refreshCounts().catch(() => {});
  const timer = setInterval(() => refreshHost().catch(() => {}), 3000);
  let pending = null;
  const close = subscribe('/api/events', (ev) => {
    feed.prepend(eventLine(ev));
    while (feed.children.length > 50) feed.lastChild.remove();
    main.querySelector('.empty-note')?.remove();
    clearTimeout(pending);
    pending = setTimeout(() => refreshCounts().catch(() => {}), 300);
  });
  return () => { clearInterval(timer); close(); clearTimeout(pending); };
}
