// One container: a readable inspect and its raw JSON, live logs, charts
// of its resources, its processes, and a console.

import { docker, subscribe, csrfToken } from './api.js';
import { h, esc, bytes, badge, header, toast, jsonView } from './dom.js';
import { runAction, renameDialog } from './containers.js';
import { Chart } from './chart.js';
import { Terminal } from './term.js';
import { staleNotice } from './recreate.js';

const TABS = ['overview', 'logs', 'stats', 'processes', 'console', 'json'];

export function render(main, id, tab = 'overview') {
  let closers = [];
  const closeAll = () => { closers.forEach((c) => c()); closers = []; };
  const body = h('div', { class: 'tab-body' });

  async function load() {
    closeAll();
    let c;
    try {
      c = await docker.get(`/containers/${encodeURIComponent(id)}/json`);
    } catch (e) {
      main.replaceChildren(header('Container'), h('div', { class: 'card empty' }, e.message));
      return;
    }
    const name = c.Name.replace(/^\//, '');
    const st = c.State.Status;
    const acts = (st === 'running' ? ['stop', 'restart', 'kill', 'pause'] : st === 'paused' ? ['unpause', 'kill'] : ['start']);
    const buttons = [...acts, 'rename', 'remove'].map((a) => h('button', {
      class: `btn${a === 'remove' ? ' danger' : ''}`, 'data-act': a,
      onclick: async () => {
        try {
          if (a === 'rename') await renameDialog(c.Id, name);
          else if (!(await runAction(a, c.Id, name))) return;
          if (a === 'remove') { location.hash = '#/containers'; return; }
          toast(`${a}: ${name}`);
        } catch (e) { toast(e.message, 'error'); }
        load();
      },
    }, a));
    const tabs = h('div', { class: 'tabs', role: 'tablist' }, TABS.map((t) =>
      h('a', { href: `#/containers/${c.Id}/${t}`, class: t === tab ? 'active' : '', role: 'tab', 'data-tab': t },
        t === 'json' ? 'Raw JSON' : t[0].toUpperCase() + t.slice(1))));
    const sub = h('span', {}, h('span', { html: badge(st) }), ' ', h('span', { class: 'mono muted' }, c.Id.slice(0, 12)), ' · ', c.Config.Image);
    main.replaceChildren(header(name, sub, ...buttons), tabs, body);
    body.replaceChildren();
    const view = { overview, logs, stats, processes, console: consoleTab, json: (c2) => body.append(jsonView(c2)) }[tab] || overview;
    if (tab === 'overview') {
      staleNotice(c, (fresh) => { location.hash = `#/containers/${fresh}`; })
        .then((n) => n && body.prepend(n));
    }
    const close = view(c, body);
    if (close) closers.push(close);
  }

  load();
  return closeAll;
}

function kv(rows) {
  return h('dl', { class: 'kv' }, rows.filter(([, v]) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && !v.length))
    .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, Array.isArray(v) ? v.map((x) => h('div', {}, x)) : v)]));
}

function overview(c, body) {
  const hc = c.HostConfig || {};
  const ports = Object.entries(c.NetworkSettings?.Ports || {}).flatMap(([p, bs]) =>
    (bs || []).map((b) => `${b.HostIp || '0.0.0.0'}:${b.HostPort} → ${p}`));
  const nets = Object.entries(c.NetworkSettings?.Networks || {}).map(([n, v]) => `${n}: ${v.IPAddress || 'no address'}`);
  const mounts = (c.Mounts || []).map((m) => `${m.Type} ${m.Name || m.Source} → ${m.Destination}${m.RW ? '' : ' (ro)'}`);
  const started = c.State.StartedAt && !c.State.StartedAt.startsWith('0001') ? new Date(c.State.StartedAt).toLocaleString() : '';
  body.append(h('div', { class: 'grid two' },
    h('section', { class: 'card' }, h('h2', {}, 'State'), kv([
      ['Status', c.State.Status], ['Health', c.State.Health?.Status], ['Exit code', c.State.Running ? '' : String(c.State.ExitCode)],
      ['Error', c.State.Error], ['Started', started], ['Created', new Date(c.Created).toLocaleString()],
      ['Restarts', String(c.RestartCount ?? 0)], ['PID', c.State.Pid ? String(c.State.Pid) : '']])),
    h('section', { class: 'card' }, h('h2', {}, 'Configuration'), kv([
      ['Image', c.Config.Image], ['Command', [...(c.Config.Entrypoint || []), ...(c.Config.Cmd || [])].join(' ')],
      ['Working dir', c.Config.WorkingDir], ['User', c.Config.User], ['TTY', c.Config.Tty ? 'yes' : 'no'],
      ['Restart policy', hc.RestartPolicy?.Name || 'no'],
      ['Memory limit', hc.Memory ? bytes(hc.Memory) : 'none'], ['CPUs', hc.NanoCpus ? String(hc.NanoCpus / 1e9) : 'no limit']])),
    h('section', { class: 'card' }, h('h2', {}, 'Network'), kv([['Ports', ports.length ? ports : ['none published']], ['Networks', nets], ['Hostname', c.Config.Hostname]])),
    h('section', { class: 'card' }, h('h2', {}, 'Storage and environment'), kv([['Mounts', mounts.length ? mounts : ['none']], ['Environment', c.Config.Env || []],
      ['Labels', Object.entries(c.Config.Labels || {}).map(([k, v]) => `${k}=${v}`)]]))));
}

// Docker's multiplexed stream: 8-byte headers (stream, 0, 0, 0, size BE).
function demux(buf, out) {
  let off = 0;
  while (buf.length - off >= 8) {
    const size = (buf[off + 4] << 24) | (buf[off + 5] << 16) | (buf[off + 6] << 8) | buf[off + 7];
    if (buf.length - off - 8 < size) break;
    out.push({ stream: buf[off] === 2 ? 'stderr' : 'stdout', data: buf.subarray(off + 8, off + 8 + size) });
    off += 8 + size;
  }
  return buf.subarray(off);
}

function logs(c, body) {
  const search = h('input', { type: 'search', placeholder: 'Search the logs', id: 'log-search', 'aria-label': 'Search the logs' });
  const follow = h('input', { type: 'checkbox', checked: true, id: 'log-follow' });
  const stamps = h('input', { type: 'checkbox', id: 'log-timestamps' });
  const out = h('div', { class: 'logs', id: 'logs' });
  const count = h('span', { class: 'muted small' });
  const lines = [];
  const ctl = new AbortController();
  const download = h('button', {
    class: 'btn small', onclick: () => {
      const text = lines.map((l) => (stamps.checked ? `${l.ts} ${l.text}` : l.text)).join('\n');
      const a = h('a', { href: URL.createObjectURL(new Blob([text + '\n'], { type: 'text/plain' })), download: `${c.Name.replace(/^\//, '')}.log` });
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    },
  }, 'Download');
  body.append(h('div', { class: 'toolbar' }, search,
    h('label', { class: 'check-label' }, follow, 'Follow'),
    h('label', { class: 'check-label' }, stamps, 'Timestamps'), count, download), h('div', { class: 'card flush' }, out));

  function lineEl(l) {
    const q = search.value;
    const div = h('div', { class: `log-line ${l.stream}` });
    const ts = stamps.checked ? `<time>${esc(l.ts)}</time>` : '';
    let text = esc(l.text);
    if (q) {
      const re = new RegExp(esc(q).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
      text = text.replace(re, (m) => `<mark>${m}</mark>`);
      div.classList.toggle('hit', re.test(esc(l.text)));
    }
    div.innerHTML = ts + text;
    return div;
  }
  function redraw() {
    const q = search.value.toLowerCase();
    out.replaceChildren(...lines.map(lineEl));
    count.textContent = q ? `${lines.filter((l) => l.text.toLowerCase().includes(q)).length} matching lines` : `${lines.length} lines`;
    out.querySelector('mark')?.scrollIntoView({ block: 'center' });
  }
  search.addEventListener('input', redraw);
  stamps.addEventListener('change', redraw);

  let partial = { stdout: '', stderr: '' };
  function add(stream, text) {
    const all = partial[stream] + text;
    const parts = all.split('\n');
    partial[stream] = parts.pop();
    for (const p of parts) {
      const m = /^(\S+) (.*)$/.exec(p.replace(/\r$/, ''));
      const l = { stream, ts: m ? m[1] : '', text: m ? m[2] : p };
      lines.push(l);
      out.append(lineEl(l));
    }
    if (lines.length > 5000) { lines.splice(0, lines.length - 5000); redraw(); }
    count.textContent = `${lines.length} lines`;
    if (follow.checked) out.scrollTop = out.scrollHeight;
  }

  (async () => {
    const r = await docker.stream('GET', `/containers/${c.Id}/logs?stdout=1&stderr=1&timestamps=1&tail=1000&follow=${c.State.Running ? 1 : 0}`);
    const reader = r.body.getReader();
    ctl.signal.addEventListener('abort', () => reader.cancel());
    const dec = { stdout: new TextDecoder(), stderr: new TextDecoder() };
    let rest = new Uint8Array(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (c.Config.Tty) { add('stdout', dec.stdout.decode(value, { stream: true })); continue; }
      const buf = new Uint8Array(rest.length + value.length);
      buf.set(rest); buf.set(value, rest.length);
      const frames = [];
      rest = demux(buf, frames);
      for (const f of frames) add(f.stream, dec[f.stream].decode(f.data, { stream: true }));
    }
    for (const s of ['stdout', 'stderr']) if (partial[s]) add(s, '\n');
  })().catch((e) => { if (!ctl.signal.aborted) toast(e.message, 'error'); });
  return () => ctl.abort();
}

function stats(c, body) {
  if (!c.State.Running) { body.append(h('div', { class: 'card empty' }, 'The container is not running: no live figures.')); return null; }
  const pct = (v) => `${v < 1 ? v.toFixed(2) : v.toFixed(1)}%`;
  const rate = (v) => `${bytes(v)}/s`;
  const cpu = new Chart('CPU', pct, ['cpu']);
  const mem = new Chart('Memory', bytes, ['used']);
  const net = new Chart('Network', rate, ['rx', 'tx']);
  const io = new Chart('Block I/O', rate, ['read', 'write']);
  body.append(h('div', { class: 'grid two charts', id: 'charts' }, cpu.el, mem.el, net.el, io.el));
  let prev = null;
  const sum = (obj, k) => Object.values(obj || {}).reduce((a, n) => a + (n[k] || 0), 0);
  const blk = (s, op) => (s.blkio_stats?.io_service_bytes_recursive || []).filter((e) => e.op.toLowerCase() === op).reduce((a, e) => a + e.value, 0);
  return subscribe(`/api/containers/${c.Id}/stats`, (s) => {
    const cd = s.cpu_stats.cpu_usage.total_usage - (s.precpu_stats.cpu_usage?.total_usage || 0);
    const sd = s.cpu_stats.system_cpu_usage - (s.precpu_stats.system_cpu_usage || 0);
    cpu.push(sd > 0 ? (cd / sd) * (s.cpu_stats.online_cpus || 1) * 100 : 0);
    mem.push(s.memory_stats.usage || 0);
    const now = { t: Date.parse(s.read) / 1000, rx: sum(s.networks, 'rx_bytes'), tx: sum(s.networks, 'tx_bytes'), r: blk(s, 'read'), w: blk(s, 'write') };
    if (prev) {
      const dt = Math.max(0.001, now.t - prev.t);
      net.push((now.rx - prev.rx) / dt, (now.tx - prev.tx) / dt);
      io.push((now.r - prev.r) / dt, (now.w - prev.w) / dt);
    }
    prev = now;
    body.dataset.samples = (Number(body.dataset.samples || 0) + 1).toString();
  });
}

function processes(c, body) {
  const box = h('div', { class: 'card flush' });
  const refresh = async () => {
    try {
      const t = await docker.get(`/containers/${c.Id}/top`);
      box.replaceChildren(h('table', { class: 'table', id: 'top' },
        h('thead', {}, h('tr', {}, t.Titles.map((x) => h('th', {}, x)))),
        h('tbody', {}, t.Processes.map((p) => h('tr', {}, p.map((x) => h('td', { class: 'mono small' }, x)))))));
    } catch (e) { box.replaceChildren(h('div', { class: 'empty' }, e.message)); }
  };
  body.append(h('div', { class: 'toolbar' }, h('button', { class: 'btn small', onclick: refresh }, 'Refresh')), box);
  refresh();
  const t = setInterval(refresh, 5000);
  return () => clearInterval(t);
}

function consoleTab(c, body) {
  if (!c.State.Running) { body.append(h('div', { class: 'card empty' }, 'Start the container to open a console.')); return null; }
  const status = h('span', { class: 'muted small', id: 'console-status' }, 'connecting…');
  const el = h('div', { class: 'term', id: 'console' });
  const cmd = h('select', { 'aria-label': 'shell' }, ['sh', 'bash', 'ash'].map((s) => h('option', { value: s }, s)));
  const reconnect = h('button', { class: 'btn small', onclick: () => { close(); open(); } }, 'Reconnect');
  body.append(h('div', { class: 'toolbar' }, cmd, reconnect, status), el);
  let ws = null;
  let ro = null;
  let term = null;
  const send = (d) => { if (ws?.readyState === 1) ws.send(new TextEncoder().encode(d)); };
  function open() {
    el.replaceChildren();
    term = new Terminal(el, send);
    const [rows, cols] = term.fit();
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    ws = new WebSocket(`${proto}://${location.host}/api/containers/${c.Id}/console?rows=${rows}&cols=${cols}&cmd=${cmd.value}&csrf=${csrfToken()}`);
    ws.binaryType = 'arraybuffer';
    const dec = new TextDecoder();
    ws.onopen = () => {
      status.textContent = `connected: ${cmd.value} (${cols}×${rows})`;
      status.dataset.size = `${rows} ${cols}`;
      term.focus();
    };
    ws.onmessage = (m) => {
      if (typeof m.data === 'string') {
        const msg = JSON.parse(m.data);
        if (msg.error) status.textContent = `error: ${msg.error}`;
        if ('exit' in msg) status.textContent = `exited (${msg.exit ?? '?'})`;
        return;
      }
      term.write(dec.decode(m.data, { stream: true }));
    };
    ws.onclose = () => { if (!status.textContent.startsWith('e')) status.textContent = 'disconnected'; };
    ro = new ResizeObserver(() => {
      const [r2, c2] = term.fit();
      if (ws.readyState === 1) {
        ws.send(JSON.stringify({ resize: [r2, c2] }));
        status.textContent = `connected: ${cmd.value} (${c2}×${r2})`;
        status.dataset.size = `${r2} ${c2}`;
      }
    });
    ro.observe(el);
  }
  function close() { ro?.disconnect(); ws?.close(); }
  open();
  return close;
}

