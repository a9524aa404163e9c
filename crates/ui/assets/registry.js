// The Registry page: a registry's repositories, a repository's tags with
// their digests and sizes, pull a tag, delete a tag's manifest.

import { docker, jsonLines, request, registryAuth } from './api.js';
import { h, esc, bytes, header, toast, field, confirmAction } from './dom.js';

const q = (o) => new URLSearchParams(o).toString();

export function render(main) {
  const input = h('input', { name: 'registry', id: 'registry-addr', placeholder: 'HOST:PORT, e.g. 127.0.0.1:5000', value: localStorage.getItem('berth-registry') || '' });
  const f = field('Registry', input, 'Loopback registries and --insecure-registry ones are spoken to over http, others over https.');
  const user = h('input', { name: 'registry-user', autocomplete: 'off' });
  const pass = h('input', { name: 'registry-password', type: 'password', autocomplete: 'off' });
  const auth = () => registryAuth(user.value.trim(), pass.value, input.value.trim());
  const repos = h('div', { id: 'registry-repos' });
  const tags = h('div', { id: 'registry-tags' });
  main.append(
    header('Registry', 'Browse a registry: repositories, tags, manifests, sizes.'),
    h('form', { class: 'card', id: 'registry-form', onsubmit: (e) => { e.preventDefault(); browse(); } },
      h('div', { class: 'inline' }, f, h('button', { class: 'btn primary', type: 'submit' }, 'Browse')),
      h('details', { class: 'creds' }, h('summary', { class: 'muted small' }, 'Credentials (registries with a user and password)'),
        h('div', { class: 'pair' }, field('User', user), field('Password', pass)))),
    h('div', { class: 'grid registry-grid' }, repos, tags));

  async function browse() {
    f.setError('');
    tags.replaceChildren();
    const registry = input.value.trim();
    if (!registry) { f.setError('a registry address is required'); return; }
    try {
      const r = await (await request('GET', `/api/registry/repositories?${q({ registry })}`, undefined, undefined, auth())).json();
      localStorage.setItem('berth-registry', registry);
      const list = r.repositories || [];
      repos.replaceChildren(h('div', { class: 'card flush' }, h('table', { class: 'table' },
        h('thead', {}, h('tr', {}, h('th', {}, `Repositories (${list.length})`))),
        h('tbody', {}, list.length ? list.map((name) => h('tr', {}, h('td', {},
          h('a', { href: '#/registry', 'data-repo': name, onclick: (e) => { e.preventDefault(); openRepo(registry, name); } }, name))))
          : h('tr', {}, h('td', { class: 'empty' }, 'No repositories.'))))));
    } catch (err) { f.setError(err.message); repos.replaceChildren(); }
  }

  async function openRepo(registry, repo) {
    repos.querySelectorAll('a[data-repo]').forEach((a) => a.classList.toggle('current', a.dataset.repo === repo));
    tags.replaceChildren(h('div', { class: 'card muted' }, 'Loading…'));
    try {
      const r = await (await request('GET', `/api/registry/tags?${q({ registry, repo })}`, undefined, undefined, auth())).json();
      const body = h('tbody');
      body.innerHTML = r.tags.map((t) => (t.error
        ? `<tr><td><span class="tag">${esc(t.tag)}</span></td><td colspan="4" class="small muted">${esc(t.error)}</td></tr>`
        : `<tr data-tag="${esc(t.tag)}" data-digest="${esc(t.digest || '')}"><td><span class="tag">${esc(t.tag)}</span></td>
           <td class="mono small" title="${esc(t.digest || '')}">${esc((t.digest || '').slice(7, 19))}</td>
           <td class="num">${bytes(t.size)}</td><td class="small muted">${t.layers ?? '–'}</td>
           <td class="row-actions"><button class="btn small" data-act="pull">pull</button><button class="btn small danger" data-act="delete">delete</button></td></tr>`)).join('')
        || '<tr><td colspan="5" class="empty">No tags.</td></tr>';
      body.addEventListener('click', async (e) => {
        const b = e.target.closest('button[data-act]');
        if (!b) return;
        const { tag, digest } = b.closest('tr').dataset;
        try {
          if (b.dataset.act === 'pull') {
            b.disabled = true;
            const resp = await docker.stream('POST', `/images/create?${q({ fromImage: `${registry}/${repo}`, tag })}`, undefined, undefined, auth());
            for await (const m of jsonLines(resp)) if (m.error || m.errorDetail) throw new Error(m.errorDetail?.message || m.error);
            toast(`pulled ${registry}/${repo}:${tag}`);
            b.disabled = false;
          } else {
            if (!(await confirmAction('Delete tag', `Delete ${repo}:${tag} from ${registry}? Its manifest (${digest.slice(0, 19)}…) goes, with every tag that names it.`, 'Delete'))) return;
            await request('DELETE', `/api/registry/manifests?${q({ registry, repo, digest })}`, undefined, undefined, auth());
            toast(`deleted ${repo}:${tag}`);
            openRepo(registry, repo);
          }
        } catch (err) { b.disabled = false; toast(err.message, 'error'); }
      });
      tags.replaceChildren(h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'registry-tag-table' },
        h('thead', {}, h('tr', {}, h('th', {}, repo), h('th', {}, 'Digest'), h('th', {}, 'Size'), h('th', {}, 'Layers'), h('th', {}, ''))), body)));
    } catch (err) {
      tags.replaceChildren(h('div', { class: 'card empty' }, err.message));
    }
  }

  if (input.value) browse();
  return null;
}
