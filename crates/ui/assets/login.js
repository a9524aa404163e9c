// The login form, or on a fresh daemon the form that creates the admin account.

import { request } from './api.js';
import { h, field } from './dom.js';

export function render(root, setup, done) {
  const user = h('input', { name: 'username', autocomplete: 'username', value: setup ? 'admin' : '', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: setup ? 'new-password' : 'current-password', required: true });
  const confirm = h('input', { name: 'confirm', type: 'password', autocomplete: 'new-password' });
  const fUser = field('User name', user);
  const fPass = field('Password', pass, setup ? 'At least 8 characters.' : null);
  const fConfirm = field('Repeat the password', confirm);
  const err = h('div', { class: 'form-error', role: 'alert', id: 'login-error' });
  const button = h('button', { class: 'btn primary wide', type: 'submit', id: 'login-submit' }, setup ? 'Create the admin account' : 'Log in');
  const form = h('form', {
    class: 'form', id: setup ? 'setup-form' : 'login-form',
    onsubmit: async (e) => {
      e.preventDefault();
      err.textContent = '';
      fConfirm.setError('');
      if (setup && pass.value !== confirm.value) { fConfirm.setError('The passwords differ.'); return; }
      button.disabled = true;
      try {
        await request('POST', setup ? '/auth/setup' : '/auth/login', { username: user.value, password: pass.value });
        done();
      } catch (ex) {
        err.textContent = ex.message;
      } finally {
        button.disabled = false;
      }
    },
  }, fUser, fPass, setup ? fConfirm : null, err, button);
  root.replaceChildren(h('div', { class: 'login' },
    h('div', { class: 'login-card card' },
      h('div', { class: 'brand big' }, h('img', { src: '/assets/icon.svg', alt: '' }), h('span', {}, 'berth')),
      h('h1', {}, setup ? 'Welcome' : 'Log in'),
      h('p', { class: 'muted' }, setup
        ? 'This daemon has no dashboard account yet. Choose the admin password.'
        : 'Log in to manage this daemon.'),
      form)));
  (setup ? pass : user).focus();
}
