// The container list: live state, CPU and memory per row, search and
// filters, actions one by one or in bulk, and the run form.

import { docker, subscribe } from './api.js';
import { h, esc, bytes, badge, header, toast, modal, field, confirmAction, prompt } from './dom.js';

const ACTIONS = {
  start: (id) => docker.post(`/containers/${id}/start`),
  stop: (id) => docker.post(`/containers/${id}/stop`),
  restart: (id) => docker.post(`/containers/${id}/restart`),
  kill: (id) => docker.post(`/containers/${id}/kill`),
  pause: (id) => docker.post(`/containers/${id}/pause`),
  unpause: (id) => docker.post(`/containers/${id}/unpause`),
  remove: (id) => docker.del(`/containers/${id}?force=1&v=1`),
};

// The actions that make sense in a state: the main one first.
export function actionsFor(state) {
  switch (state) {
    case 'running': return ['stop', 'restart', 'kill', 'pause'];
    case 'paused': return ['unpause', 'kill'];
    case 'restarting': return ['stop', 'kill'];
    default: return ['start'];
  }
}

export async function runAction(action, id, name) {
  if (action === 'remove' && !(await confirmAction('Remove container', `Remove ${name} and its anonymous volumes?`, 'Remove'))) return false;
  await ACTIONS[action](id);
  return true;
}

export function renameDialog(id, name) {
  return prompt('Rename container', 'New name', name, (v) => docker.post(`/containers/${id}/rename?name=${encodeURIComponent(v)}`));
}

function health(status) {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status || '');
  if (!m) return '';
  const k = m[1].replace('health: ', '');
  return `<span class="badge h-${k}">${k}</span>`;
}

// A port bound to every address is reached where the dashboard is; one
// bound to an address, there.
function linkHost(ip) {
  if (!ip || ip === '0.0.0.0' || ip === '::') return location.hostname;
  return ip.includes(':') ? `[${ip}]` : ip;
}

function ports(c) {
  const seen = new Set();
  return (c.Ports || []).filter((p) => p.PublicPort).filter((p) => {
    const k = `${p.PublicPort}/${p.Type}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  }).map((p) => (p.Type === 'tcp'
    ? `<a href="http://${esc(linkHost(p.IP))}:${p.PublicPort}/" target="_blank" rel="noopener">${p.PublicPort}→${p.PrivatePort}</a>`
    : `${p.PublicPort}→${p.PrivatePort}/${p.Type}`)).join(' ');
}

function row(c, stats) {
  const name = (c.Names?.[0] || c.Id).replace(/^\//, '');
  const s = stats[c.Id];
  const [main, ...more] = actionsFor(c.State);
  const menu = [...more, 'rename'].map((a) => `<button class="menu-item" data-act="${a}">${a}</button>`).join('');
  return `<tr data-id="${esc(c.Id)}" data-name="${esc(name)}" data-state="${esc(c.State)}">
    <td class="check"><input type="checkbox" aria-label="select ${esc(name)}"></td>
    <td class="name"><a href="#/containers/${esc(c.Id)}">${esc(name)}</a><div class="muted mono small">${esc(c.Id.slice(0, 12))}</div></td>
    <td>${badge(c.State)} ${health(c.Status)}</td>
    <td class="mono small ellipsis" title="${esc(c.Image)}">${esc(c.Image)}</td>
    <td class="small">${ports(c)}</td>
    <td class="small muted">${esc(c.Status)}</td>
    <td class="num cpu">${s ? `${s.cpu.toFixed(1)}%` : ''}</td>
    <td class="num mem">${s ? bytes(s.mem) : ''}</td>
    <td class="row-actions"><button class="btn small" data-act="${main}">${main}</button><details class="menu"><summary class="btn small" title="More actions">⋯</summary><div class="menu-list">${menu}</div></details><button class="btn small danger" data-act="remove">remove</button></td>
  </tr>`;
}

export function render(main) {
  let list = [];
  let stats = {};
  const search = h('input', { type: 'search', placeholder: 'Search name, image, id…', id: 'container-search', 'aria-label': 'Search' });
  const stateSel = h('select', { id: 'state-filter', 'aria-label': 'State' },
    ['all', 'running', 'exited', 'created', 'paused'].map((s) => h('option', { value: s }, s === 'all' ? 'Any state' : s)));
  const tbody = h('tbody');
  const table = h('table', { class: 'table', id: 'containers' },
    h('thead', {}, h('tr', {},
      h('th', { class: 'check' }, h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'select all' })),
      ...['Name', 'State', 'Image', 'Ports', 'Status', 'CPU', 'Memory', ''].map((t) => h('th', { class: t === 'CPU' || t === 'Memory' ? 'num' : '' }, t)))),
    tbody);
  const bulk = h('div', { class: 'bulk', id: 'bulk' },
    h('span', { class: 'bulk-count' }),
    ...['start', 'stop', 'restart', 'kill', 'remove'].map((a) =>
      h('button', { class: `btn small${a === 'remove' ? ' danger' : ''}`, 'data-bulk': a }, a)));
  const empty = h('div', { class: 'card empty', hidden: true }, 'No containers match.');
  main.append(
    header('Containers', null,
      h('button', { class: 'btn primary', id: 'run-container', onclick: () => runForm().then((ok) => ok && refresh()) }, '+ Run a container')),
    h('div', { class: 'toolbar' }, search, stateSel, bulk),
    h('div', { class: 'card flush' }, table), empty);

  function visible() {
    const q = search.value.trim().toLowerCase();
    const st = stateSel.value;
    return list.filter((c) => (st === 'all' || c.State === st) &&
      (!q || [c.Names?.[0], c.Image, c.Id].some((x) => (x || '').toLowerCase().includes(q))));
  }

  // A live refresh redraws the rows: selections and an open menu survive it.
  function draw() {
    const t0 = performance.now();
    const rows = visible();
    const picked = new Set(selected().map((tr) => tr.dataset.id));
    const open = tbody.querySelector('details[open]')?.closest('tr')?.dataset.id;
    tbody.innerHTML = rows.map((c) => row(c, stats)).join('');
    if (picked.size || open) {
      for (const tr of tbody.rows) {
        if (picked.has(tr.dataset.id)) tr.querySelector('input[type=checkbox]').checked = true;
        if (tr.dataset.id === open) tr.querySelector('details').open = true;
      }
    }
    empty.hidden = rows.length > 0;
    updateBulk();
    window.__berthListRender = { rows: rows.length, ms: performance.now() - t0 };
  }

  function updateStats() {
    for (const tr of tbody.rows) {
      const s = stats[tr.dataset.id];
      tr.querySelector('.cpu').textContent = s ? `${s.cpu.toFixed(1)}%` : '';
      tr.querySelector('.mem').textContent = s ? bytes(s.mem) : '';
    }
  }

  function selected() {
    return [...tbody.querySelectorAll('input[type=checkbox]:checked')].map((i) => i.closest('tr'));
  }
  function updateBulk() {
    if (bulk.classList.contains('busy')) return;
    const n = selected().length;
    bulk.classList.toggle('on', n > 0);
    bulk.querySelector('.bulk-count').textContent = `${n} selected`;
  }

  async function refresh() {
    const t0 = performance.now();
    list = await docker.get('/containers/json?all=1');
    draw();
    window.__berthListLoad = { rows: list.length, ms: performance.now() - t0 };
  }

  tbody.addEventListener('change', updateBulk);
  table.querySelector('#select-all').addEventListener('change', (e) => {
    for (const i of tbody.querySelectorAll('input[type=checkbox]')) i.checked = e.target.checked;
    updateBulk();
  });
  tbody.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    b.closest('details')?.removeAttribute('open');
    const tr = b.closest('tr');
    b.disabled = true;
    try {
      if (b.dataset.act === 'rename') await renameDialog(tr.dataset.id, tr.dataset.name);
      else if (await runAction(b.dataset.act, tr.dataset.id, tr.dataset.name)) toast(`${b.dataset.act}: ${tr.dataset.name}`);
    } catch (err) { toast(err.message, 'error'); }
    b.disabled = false;
    refresh();
  });
  bulk.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-bulk]');
    if (!b) return;
    const rows = selected();
    const act = b.dataset.bulk;
    if (act === 'remove' && !(await confirmAction('Remove containers', `Remove ${rows.length} containers?`, 'Remove'))) return;
    // A few at a time: hundreds at once would queue inside the daemon anyway.
    const results = [];
    const queue = rows.map((tr) => tr.dataset.id);
    const count = bulk.querySelector('.bulk-count');
    bulk.classList.add('busy');
    const worker = async () => {
      while (queue.length) {
        const id = queue.shift();
        results.push(await ACTIONS[act](id).then(() => ({ status: 'fulfilled' }), (reason) => ({ status: 'rejected', reason })));
        count.textContent = `${act}: ${results.length} of ${rows.length}`;
      }
    };
    // Four at a time: the page's two live streams hold two of the browser's
    // six connections to the daemon.
    await Promise.all(Array.from({ length: 4 }, worker));
    bulk.classList.remove('busy');
    const failed = results.filter((r) => r.status === 'rejected');
    if (failed.length) toast(`${act}: ${failed.length} failed: ${failed[0].reason.message}`, 'error');
    else toast(`${act}: ${rows.length} containers`);
    table.querySelector('#select-all').checked = false;
    refresh();
  });
  search.addEventListener('input', draw);
  stateSel.addEventListener('change', draw);

  refresh().catch((e) => toast(e.message, 'error'));
  let pending = null;
  const closeEvents = subscribe('/api/events', (ev) => {
    if (ev.Type !== 'container' || /^(exec_|top|attach|resize)/.test(ev.Action)) return;
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch(() => {}), 250);
  });
  const closeStats = subscribe('/api/stats', (s) => { stats = s; updateStats(); });
  window.__berthRefreshContainers = refresh;
  return () => { closeEvents(); closeStats(); clearTimeout(pending); };
}

// ---- the run form ----

export function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

// docker run's own client-side parsing: these errors never reach the daemon.
function parsePorts(text) {
  const bindings = {};
  const exposed = {};
  for (const l of lines(text)) {
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(?:(\d+):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(l);
    if (!m) throw new Error(`invalid port mapping "${l}": expected [IP:]HOST:CONTAINER[/tcp|udp]`);
    const key = `${m[3]}/${m[4] || 'tcp'}`;
    exposed[key] = {};
    (bindings[key] ||= []).push({ HostIp: m[1] || '', HostPort: m[2] || '' });
  }
  return { bindings, exposed };
}

export function parseEnv(text) {
  return lines(text).map((l) => {
    if (!/^[^=\s]+=/.test(l)) throw new Error(`invalid variable "${l}": expected KEY=value`);
    return l;
  });
}

export function parseMemory(s) {
  s = s.trim();
  if (!s) return 0;
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(s);
  if (!m) throw new Error(`invalid size "${s}": e.g. 256m or 1g`);
  return Math.round(parseFloat(m[1]) * { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()]);
}

export function parseCmd(s) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2] ?? m[3]);
  return out;
}

// Which field a daemon error is about, by the words Docker's messages use.
function fieldOf(message) {
  const m = message.toLowerCase();
  if (/no such image|image|reference format|repository/.test(m)) return 'image';
  if (/container name|conflict. the container name|invalid container name/.test(m)) return 'name';
  if (/port/.test(m)) return 'ports';
  if (/network/.test(m)) return 'network';
  if (/mount|volume|bind/.test(m)) return 'volumes';
  if (/restart/.test(m)) return 'restart';
  if (/memory/.test(m)) return 'memory';
  if (/cpu/.test(m)) return 'cpus';
  if (/env/.test(m)) return 'env';
  if (/exec|command|executable|no such file/.test(m)) return 'cmd';
  return null;
}

export async function runForm() {
  const nets = await docker.get('/networks').catch(() => []);
  const imgs = await docker.get('/images/json').catch(() => []);
  return modal('Run a container', (close) => {
    const inputs = {
      image: h('input', { name: 'image', placeholder: 'busybox:latest', list: 'image-names', required: true }),
      name: h('input', { name: 'name', placeholder: 'optional' }),
      cmd: h('input', { name: 'cmd', placeholder: 'e.g. sh -c "echo hi; sleep 1d"' }),
      env: h('textarea', { name: 'env', rows: 2, placeholder: 'KEY=value, one a line' }),
      ports: h('textarea', { name: 'ports', rows: 2, placeholder: '8080:80, one a line' }),
      volumes: h('textarea', { name: 'volumes', rows: 2, placeholder: 'data:/data or /host/dir:/dir[:ro], one a line' }),
      network: h('select', { name: 'network' }, h('option', { value: 'default' }, 'default'),
        nets.map((n) => h('option', { value: n.Name }, n.Name))),
      restart: h('select', { name: 'restart' }, ['no', 'on-failure', 'unless-stopped', 'always'].map((r) => h('option', { value: r }, r))),
      memory: h('input', { name: 'memory', placeholder: 'e.g. 256m' }),
      cpus: h('input', { name: 'cpus', placeholder: 'e.g. 0.5' }),
    };
    const fields = {
      image: field('Image', inputs.image), name: field('Name', inputs.name),
      cmd: field('Command', inputs.cmd, 'Empty: the image\'s default.'),
      env: field('Environment', inputs.env), ports: field('Published ports', inputs.ports),
      volumes: field('Volumes', inputs.volumes), network: field('Network', inputs.network),
      restart: field('Restart policy', inputs.restart), memory: field('Memory limit', inputs.memory),
      cpus: field('CPUs', inputs.cpus),
    };
    const formError = h('div', { class: 'form-error', role: 'alert' });
    const submit = h('button', { class: 'btn primary', type: 'submit', id: 'run-submit' }, 'Run');
    const datalist = h('datalist', { id: 'image-names' }, imgs.flatMap((i) => i.RepoTags || []).map((t) => h('option', { value: t })));

    async function onSubmit(e) {
      e.preventDefault();
      Object.values(fields).forEach((f) => f.setError(''));
      formError.textContent = '';
      let body;
      try {
        body = buildBody(inputs, fields);
      } catch (err) { return; }
      submit.disabled = true;
      let id = null;
      try {
        const q = inputs.name.value.trim() ? `?name=${encodeURIComponent(inputs.name.value.trim())}` : '';
        id = (await docker.postJson(`/containers/create${q}`, body)).Id;
        await docker.post(`/containers/${id}/start`);
        toast(`started ${inputs.name.value.trim() || id.slice(0, 12)}`);
        close(true);
      } catch (err) {
        // Nothing half-created: a container that would not start goes.
        if (id) await docker.del(`/containers/${id}?force=1&v=1`).catch(() => {});
        const f = fieldOf(err.message);
        if (f) fields[f].setError(err.message); else formError.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    }
    return h('form', { class: 'form grid-form', id: 'run-form', onsubmit: onSubmit, novalidate: true },
      datalist, fields.image, fields.name, h('div', { class: 'span2' }, fields.cmd),
      fields.env, fields.ports, fields.volumes, fields.network, fields.restart,
      h('div', { class: 'pair' }, fields.memory, fields.cpus),
      h('div', { class: 'span2' }, formError),
      h('div', { class: 'form-actions span2' },
        h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'), submit));
  }, true);
}

function buildBody(inputs, fields) {
  let failed = false;
  const attempt = (key, fn) => {
    try { return fn(); } catch (e) { fields[key].setError(e.message); failed = true; return undefined; }
  };
  const image = inputs.image.value.trim();
  if (!image) { fields.image.setError('an image is required'); failed = true; }
  const ports = attempt('ports', () => parsePorts(inputs.ports.value));
  const env = attempt('env', () => parseEnv(inputs.env.value));
  const memory = attempt('memory', () => parseMemory(inputs.memory.value));
  const cpus = attempt('cpus', () => {
    const v = inputs.cpus.value.trim();
    if (!v) return 0;
    if (!/^\d+(\.\d+)?$/.test(v)) throw new Error(`invalid CPUs "${v}": a number, e.g. 0.5`);
    return Math.round(parseFloat(v) * 1e9);
  });
  if (failed) throw new Error('invalid input');
  const cmd = parseCmd(inputs.cmd.value);
  const restart = inputs.restart.value;
  return {
    Image: image,
    Cmd: cmd.length ? cmd : undefined,
    Env: env,
    ExposedPorts: ports.exposed,
    HostConfig: {
      PortBindings: ports.bindings,
      Binds: lines(inputs.volumes.value),
      NetworkMode: inputs.network.value || 'default',
      RestartPolicy: { Name: restart === 'no' ? '' : restart, MaximumRetryCount: 0 },
      Memory: memory,
      NanoCpus: cpus,
    },
  };
}
