// The Users page (admins): the accounts and their roles; add a viewer or
// another admin, remove one. A viewer sees every page and changes nothing.

import { request } from './api.js';
import { h, esc, header, toast, modal, field, confirmAction } from './dom.js';

export function render(main) {
  const tbody = h('tbody');
  main.append(
    header('Users', 'Who may log in: admins change anything, viewers only look.',
      h('button', { class: 'btn primary', id: 'add-user', onclick: () => addDialog().then((ok) => ok && refresh()) }, '+ Add a user')),
    h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'users' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Role'), h('th', {}, ''))), tbody)));

  async function refresh() {
    const users = await (await request('GET', '/api/users')).json();
    tbody.innerHTML = users.map((u) => `<tr data-user="${esc(u.name)}"><td><strong>${esc(u.name)}</strong>${u.me ? ' <span class="muted small">(you)</span>' : ''}</td>
      <td><span class="badge ${u.role === 'admin' ? 'st-created' : ''}">${esc(u.role)}</span></td>
      <td class="row-actions">${u.me ? '' : '<button class="btn small danger" data-act="remove">remove</button>'}</td></tr>`).join('');
  }

  tbody.addEventListener('click', async (e) => {
    const b = e.target.closest('button[data-act=remove]');
    if (!b) return;
    const name = b.closest('tr').dataset.user;
    if (!(await confirmAction('Remove user', `Remove ${name}? Their sessions end at once.`, 'Remove'))) return;
    try {
      await request('DELETE', `/api/users/${encodeURIComponent(name)}`);
      toast(`removed ${name}`);
    } catch (err) { toast(err.message, 'error'); }
    refresh();
  });

  function addDialog() {
    return modal('Add a user', (close) => {
      const name = h('input', { name: 'username', autocomplete: 'off' });
      const pass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password' });
      const role = h('select', { name: 'role' }, h('option', { value: 'viewer' }, 'viewer: looks, changes nothing'), h('option', { value: 'admin' }, 'admin: everything'));
      const fields = { username: field('User name', name), password: field('Password', pass, 'At least 8 characters.'), role: field('Role', role) };
      const err = h('div', { class: 'form-error', role: 'alert' });
      return h('form', {
        class: 'form', id: 'user-form', onsubmit: async (e) => {
          e.preventDefault();
          Object.values(fields).forEach((f) => f.setError(''));
          err.textContent = '';
          try {
            await request('POST', '/api/users', { username: name.value, password: pass.value, role: role.value });
            toast(`added ${name.value}`);
            close(true);
          } catch (ex) {
            const f = /password/i.test(ex.message) ? fields.password : /name|exists/i.test(ex.message) ? fields.username : /role/i.test(ex.message) ? fields.role : null;
            if (f) f.setError(ex.message); else err.textContent = ex.message;
          }
        },
      }, fields.username, fields.password, fields.role, err, h('div', { class: 'form-actions' },
        h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'),
        h('button', { class: 'btn primary', type: 'submit' }, 'Add')));
    });
  }

  refresh().catch((e) => toast(e.message, 'error'));
  return null;
}
