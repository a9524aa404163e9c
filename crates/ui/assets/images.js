// Images: list with size and use, pull with per-layer progress, tag,
// history, remove, a build from a Dockerfile typed in the page, and an
// "update available" marker: the registry's digest for each tag
// (GET /distribution/{name}/json) against the digests the image was pulled by.

import { docker, jsonLines, registryAuth } from './api.js';
import { h, esc, bytes, ago, shortId, header, toast, modal, field, confirmAction, prompt } from './dom.js';

export function render(main) {
  const tbody = h('tbody');
  const pullInput = h('input', { name: 'pull', placeholder: 'e.g. 127.0.0.1:5000/app:1.0 or alpine:3.20', id: 'pull-ref' });
  const pullField = field('Pull an image', pullInput);
  const progress = h('div', { class: 'layers', id: 'pull-progress' });
  const pullBtn = h('button', { class: 'btn primary', type: 'submit', id: 'pull-submit' }, 'Pull');
  const pullUser = h('input', { name: 'pull-user', autocomplete: 'off' });
  const pullPass = h('input', { name: 'pull-password', type: 'password', autocomplete: 'off' });
  main.append(
    header('Images', null,
      h('button', { class: 'btn', id: 'check-updates', onclick: () => checkUpdates() }, 'Check for updates'),
      h('button', { class: 'btn', id: 'build-image', onclick: () => buildDialog().then(refresh) }, 'Build…')),
    h('form', { class: 'card pull-form', id: 'pull-form', onsubmit: pull }, h('div', { class: 'inline' }, pullField, pullBtn),
      h('details', { class: 'creds' }, h('summary', { class: 'muted small' }, 'Registry credentials'),
        h('div', { class: 'pair' }, field('User', pullUser), field('Password', pullPass))),
      progress),
    h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'images' },
      h('thead', {}, h('tr', {}, ['Tags', 'Id', 'Size', 'Created', 'Used by', ''].map((t) => h('th', {}, t)))), tbody)));

  // tag -> { state: 'update' | 'current' | 'unknown', message }
  const updates = {};
  let images = [];

  function marker(tag) {
    const u = updates[tag];
    if (!u) return '';
    if (u.state === 'update') {
      return ` <span class="badge upd" data-update="${esc(tag)}">update available</span> <button class="btn small" data-act="pull-update" data-tag="${esc(tag)}">pull update</button>`;
    }
    if (u.state === 'current') return ` <span class="badge st-running" data-current="${esc(tag)}">up to date</span>`;
    return ` <span class="muted small" title="${esc(u.message)}">not checked</span>`;
  }

  // The repository part of a tag (`host:5000/app:1` -> `host:5000/app`).
  const repoOf = (tag) => {
    const at = tag.lastIndexOf(':');
    return at > tag.lastIndexOf('/') ? tag.slice(0, at) : tag;
  };

  async function checkOne(tag, img) {
    try {
      const remote = await docker.get(`/distribution/${tag.split('/').map(encodeURIComponent).join('/')}/json`);
      const have = (img.RepoDigests || []).includes(`${repoOf(tag)}@${remote.Descriptor.digest}`);
      updates[tag] = { state: have ? 'current' : 'update' };
    } catch (err) {
      updates[tag] = { state: 'unknown', message: err.message };
    }
  }

  async function checkUpdates() {
    // Only tags of a repository the image came from (or went to) have a
    // digest to compare; an imported or built image is asked nowhere.
    const jobs = images.flatMap((i) => {
      const repos = new Set((i.RepoDigests || []).map((d) => d.split('@')[0]));
      return (i.RepoTags || []).filter((t) => repos.has(repoOf(t))).map((t) => checkOne(t, i));
    });
    await Promise.all(jobs);
    draw();
    const n = Object.values(updates).filter((u) => u.state === 'update').length;
    toast(n ? `${n} update${n > 1 ? 's' : ''} available` : `${jobs.length} tags checked: up to date`);
  }

  let uses = {};
  async function refresh() {
    const [imgs, cs] = await Promise.all([docker.get('/images/json'), docker.get('/containers/json?all=1')]);
    images = imgs;
    uses = {};
    for (const c of cs) (uses[c.ImageID] ||= []).push(c.Names[0].replace(/^\//, ''));
    draw();
  }

  function draw() {
    tbody.innerHTML = images.map((i) => {
      const tags = (i.RepoTags || []).filter((t) => t !== '<none>:<none>');
      const users = uses[i.Id] || [];
      return `<tr data-id="${esc(i.Id)}" data-ref="${esc(tags[0] || i.Id)}">
        <td>${tags.length ? tags.map((t) => `<div><span class="tag">${esc(t)}</span>${marker(t)}</div>`).join('') : '<span class="muted">untagged</span>'}</td>
        <td class="mono small">${esc(shortId(i.Id))}</td><td class="num">${bytes(i.Size)}</td>
        <td class="small muted">${ago(i.Created)}</td>
        <td class="small">${users.length ? `<span title="${esc(users.join(', '))}">${users.length} container${users.length > 1 ? 's' : ''}</span>` : '<span class="muted">unused</span>'}</td>
        <td class="row-actions"><button class="btn small" data-act="history">history</button><button class="btn small" data-act="tag">tag</button><button class="btn small danger" data-act="remove">remove</button></td></tr>`;
    }).join('') || '<tr><td colspan="6" class="empty">No images yet: pull one above.</td></tr>';
  }

  tbody.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    const { id, ref } = b.closest('tr').dataset;
    try {
      if (b.dataset.act === 'pull-update') {
        const tag = b.dataset.tag;
        pullInput.value = tag;
        await pull();
        await refresh();
        const img = images.find((i) => (i.RepoTags || []).includes(tag));
        if (img) await checkOne(tag, img);
        draw();
        return;
      } else if (b.dataset.act === 'remove') {
        if (!(await confirmAction('Remove image', `Remove ${ref}?`, 'Remove'))) return;
        await docker.del(`/images/${encodeURIComponent(ref)}`);
        toast(`removed ${ref}`);
      } else if (b.dataset.act === 'tag') {
        await prompt('Tag image', 'New reference (repository:tag)', '', (v) => {
          const m = /^(.+?)(?::([^:/]+))?$/.exec(v.trim());
          if (!m) throw new Error('expected repository[:tag]');
          return docker.post(`/images/${encodeURIComponent(id)}/tag?repo=${encodeURIComponent(m[1])}&tag=${encodeURIComponent(m[2] || 'latest')}`);
        });
      } else if (b.dataset.act === 'history') {
        const hist = await docker.get(`/images/${encodeURIComponent(id)}/history`);
        await modal(`History of ${ref}`, () => h('table', { class: 'table' },
          h('thead', {}, h('tr', {}, ['Created', 'Created by', 'Size'].map((t) => h('th', {}, t)))),
          h('tbody', {}, hist.map((l) => h('tr', {}, h('td', { class: 'small muted' }, ago(l.Created)),
            h('td', { class: 'mono small wrap' }, l.CreatedBy || ''), h('td', { class: 'num' }, bytes(l.Size)))))), true);
      }
    } catch (err) { toast(err.message, 'error'); }
    refresh();
  });

  async function pull(e) {
    e?.preventDefault();
    pullField.setError('');
    const ref = pullInput.value.trim();
    if (!ref) { pullField.setError('an image reference is required'); return; }
    const at = ref.lastIndexOf(':');
    const [image, tag] = at > ref.lastIndexOf('/') ? [ref.slice(0, at), ref.slice(at + 1)] : [ref, 'latest'];
    pullBtn.disabled = true;
    progress.replaceChildren();
    const layers = {};
    try {
      const server = image.includes('/') && /[.:]|^localhost$/.test(image.split('/')[0]) ? image.split('/')[0] : 'docker.io';
      const auth = registryAuth(pullUser.value.trim(), pullPass.value, server);
      const r = await docker.stream('POST', `/images/create?fromImage=${encodeURIComponent(image)}&tag=${encodeURIComponent(tag)}`, undefined, undefined, auth);
      for await (const m of jsonLines(r)) {
        if (m.error || m.errorDetail) throw new Error(m.errorDetail?.message || m.error);
        if (!m.id || !/^[0-9a-f]{12}$/.test(m.id)) {
          progress.append(h('div', { class: 'muted small' }, m.status || ''));
          continue;
        }
        let l = layers[m.id];
        if (!l) {
          l = layers[m.id] = { bar: h('span'), text: h('span', { class: 'small muted' }) };
          progress.append(h('div', { class: 'layer', 'data-layer': m.id },
            h('span', { class: 'mono small' }, m.id), h('div', { class: 'bar' }, l.bar), l.text));
        }
        const d = m.progressDetail || {};
        if (d.total) l.bar.style.width = `${Math.min(100, (d.current / d.total) * 100)}%`;
        if (/complete|already exists/i.test(m.status)) l.bar.style.width = '100%';
        l.text.textContent = `${m.status}${d.total ? ` ${bytes(d.current)} / ${bytes(d.total)}` : ''}`;
      }
      toast(`pulled ${image}:${tag}`);
      pullInput.value = '';
    } catch (err) {
      pullField.setError(err.message);
    } finally {
      pullBtn.disabled = false;
      refresh();
    }
  }

  refresh().catch((e) => toast(e.message, 'error'));
  return null;
}

// A one-file tar archive (ustar): the build context of a typed Dockerfile.
function tarOf(name, text) {
  const data = new TextEncoder().encode(text);
  const header = new Uint8Array(512);
  const put = (s, off, len) => header.set(new TextEncoder().encode(s).subarray(0, len), off);
  const oct = (n, len) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0, 100); put(oct(0o644, 8), 100, 8); put(oct(0, 8), 108, 8); put(oct(0, 8), 116, 8);
  put(oct(data.length, 12), 124, 12); put(oct(Math.floor(Date.now() / 1000), 12), 136, 12);
  put('        ', 148, 8); put('0', 156, 1); put('ustar\0' + '00', 257, 8);
  const sum = header.reduce((a, b) => a + b, 0);
  put(oct(sum, 7) + ' ', 148, 8);
  const pad = (512 - (data.length % 512)) % 512;
  return new Blob([header, data, new Uint8Array(pad), new Uint8Array(1024)]);
}

// A build from a Dockerfile typed here, or from an uploaded context (a tar,
// gzip'd or not, as `docker build -` takes) with its Dockerfile's path.
function buildDialog() {
  return modal('Build an image', (close) => {
    const tag = h('input', { name: 'tag', placeholder: 'myapp:latest' });
    const df = h('textarea', { name: 'dockerfile', rows: 7, class: 'mono', placeholder: 'FROM busybox\nRUN echo hello > /hello\nCMD ["cat", "/hello"]' });
    const ctx = h('input', { name: 'context', type: 'file', accept: '.tar,.tar.gz,.tgz,application/x-tar,application/gzip' });
    const dfPath = h('input', { name: 'dockerfile-path', value: 'Dockerfile' });
    const fTag = field('Tag', tag);
    const fDf = field('Dockerfile', df, 'Or upload a context below instead.');
    const fCtx = field('Build context', ctx, 'A tar archive (gzip\'d or not) of the directory to build.');
    const fPath = field('Dockerfile in the context', dfPath);
    const out = h('pre', { class: 'build-output', id: 'build-output' });
    const go = h('button', { class: 'btn primary', type: 'submit' }, 'Build');
    return h('form', {
      class: 'form', onsubmit: async (e) => {
        e.preventDefault();
        [fDf, fTag, fCtx, fPath].forEach((f) => f.setError(''));
        const upload = ctx.files[0];
        if (!upload && !df.value.trim()) { fDf.setError('type a Dockerfile or upload a context'); return; }
        go.disabled = true;
        out.textContent = '';
        try {
          const params = new URLSearchParams({ rm: '1' });
          if (tag.value.trim()) params.set('t', tag.value.trim());
          if (upload) params.set('dockerfile', dfPath.value.trim() || 'Dockerfile');
          const body = upload || tarOf('Dockerfile', df.value);
          const r = await docker.stream('POST', `/build?${params}`, body, 'application/x-tar');
          for await (const m of jsonLines(r)) {
            if (m.error || m.errorDetail) throw new Error(m.errorDetail?.message || m.error);
            if (m.stream) out.textContent += m.stream;
            out.scrollTop = out.scrollHeight;
          }
          toast('build finished');
        } catch (err) {
          const target = /tag|reference/i.test(err.message) ? fTag
            : upload && /dockerfile|context|archive|tar/i.test(err.message) ? (/dockerfile/i.test(err.message) ? fPath : fCtx)
              : fDf;
          target.setError(err.message);
        } finally { go.disabled = false; }
      },
    }, fTag, fDf, h('div', { class: 'pair' }, fCtx, fPath), out,
    h('div', { class: 'form-actions' }, h('button', { class: 'btn', type: 'button', onclick: () => close(true) }, 'Close'), go));
  }, true);
}
