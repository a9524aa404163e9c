// The app's shell: who is logged in, the navigation, the hash router and
// the light/dark theme. Each page is a module whose render(main, params)
// returns a cleanup (closing its live streams) for when the page is left.

import { request, setSession } from './api.js';
import { h, modal, field, toast } from './dom.js';
import * as login from './login.js';
import * as overview from './overview.js';
import * as containers from './containers.js';
import * as container from './container.js';
import * as images from './images.js';
import * as resources from './resources.js';
import * as cluster from './cluster.js';
import * as stacks from './stacks.js';
import * as routes from './routes.js';
import * as apps from './apps.js';
import * as registry from './registry.js';
import * as users from './users.js';

const ICONS = {
  overview: '<path d="M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z"/>',
  containers: '<path d="M21 16.5V7.5L12 2 3 7.5v9l9 5.5zM12 4.3l6.5 4L12 12 5.5 8.3zM5 10l6 3.6v6.2L5 16.2zm8 9.8v-6.2l6-3.6v6.2z"/>',
  images: '<path d="M4 4h16v12H4zm2 2v8h12V6zm-2 12h16v2H4z"/>',
  volumes: '<path d="M12 3C7 3 4 4.6 4 6.5v11C4 19.4 7 21 12 21s8-1.6 8-3.5v-11C20 4.6 17 3 12 3zm0 2c3.9 0 6 1.1 6 1.5S15.9 8 12 8 6 6.9 6 6.5 8.1 5 12 5zm0 14c-3.9 0-6-1.1-6-1.5v-2.3c1.5.8 3.6 1.3 6 1.3s4.5-.5 6-1.3v2.3c0 .4-2.1 1.5-6 1.5z"/>',
  networks: '<path d="M10 3h4v4h-1v3h6v4h1v4h-4v-4h1v-2H7v2h1v4H4v-4h1v-4h6V7h-1z"/>',
  registry: '<path d="M3 5h18v4H3zm0 5h18v4H3zm0 5h18v4H3z"/>',
  cluster: '<path d="M12 2l3 5h-6zm-7 9l3 5H2zm14 0l3 5h-6zM11 8h2v5h-2zm-4 5l5-1 5 1v2H7z"/>',
  routes: '<path d="M4 11h10.2l-3.6-3.6L12 6l6 6-6 6-1.4-1.4 3.6-3.6H4zm16-7h2v16h-2z"/>',
  apps: '<path d="M4 4h7v7H4zm9 0h7v7h-7zM4 13h7v7H4zm9 3.5a3.5 3.5 0 107 0 3.5 3.5 0 00-7 0z"/>',
  stacks: '<path d="M12 2l10 5-10 5L2 7zm-8.2 9.1L12 15.2l8.2-4.1L22 12l-10 5-10-5zm0 5L12 20.2l8.2-4.1L22 17l-10 5-10-5z"/>',
  users: '<path d="M12 12a4 4 0 100-8 4 4 0 000 8zm0 2c-4 0-8 2-8 5v1h16v-1c0-3-4-5-8-5z"/>',
};

const PAGES = [
  ['overview', 'Overview', '#/'],
  ['containers', 'Containers', '#/containers'],
  ['images', 'Images', '#/images'],
  ['volumes', 'Volumes', '#/volumes'],
  ['networks', 'Networks', '#/networks'],
  ['registry', 'Registry', '#/registry'],
  ['cluster', 'Cluster', '#/cluster'],
  ['stacks', 'Stacks', '#/stacks'],
  ['routes', 'Routes', '#/routes'],
  ['apps', 'Apps', '#/apps'],
  ['users', 'Users', '#/users'],
];

let cleanup = null;

function applyTheme(t) {
  if (t) document.documentElement.dataset.theme = t;
  else delete document.documentElement.dataset.theme;
}
applyTheme(localStorage.getItem('berth-theme'));

function toggleTheme() {
  const dark = document.documentElement.dataset.theme
    ? document.documentElement.dataset.theme === 'dark'
    : matchMedia('(prefers-color-scheme: dark)').matches;
  const next = dark ? 'light' : 'dark';
  localStorage.setItem('berth-theme', next);
  applyTheme(next);
}

// SVG needs its namespace: parsing markup gives it, createElement does not.
function icon(name) {
  return h('span', { class: 'icon-wrap', html: `<svg class="icon" viewBox="0 0 24 24" aria-hidden="true">${ICONS[name]}</svg>` });
}

function shell(user, role) {
  // A viewer's page hides what it may not do (the daemon refuses it anyway).
  document.body.classList.toggle('viewer', role === 'viewer');
  const pages = PAGES.filter(([key]) => key !== 'users' || role === 'admin');
  const nav = h('nav', { class: 'nav' }, pages.map(([key, label, href]) =>
    h('a', { href, 'data-page': key }, icon(key), h('span', {}, label))));
  const main = h('main', { id: 'main' });
  const app = h('div', { class: 'layout' },
    h('aside', { class: 'sidebar' },
      h('a', { class: 'brand', href: '#/' }, h('img', { src: '/assets/icon.svg', alt: '' }), h('span', {}, 'berth')),
      nav,
      h('div', { class: 'sidebar-foot' },
        h('button', { class: 'btn ghost small', id: 'theme', title: 'Light or dark', onclick: toggleTheme }, '◐ Theme'),
        h('span', { class: 'muted user', id: 'whoami' }, role === 'viewer' ? `${user} (viewer)` : user),
        h('button', { class: 'btn ghost small', id: 'password', onclick: passwordDialog }, 'Password'),
        h('button', { class: 'btn ghost small', id: 'logout', onclick: logout }, 'Log out'))),
    main);
  document.getElementById('app').replaceChildren(app);
  return main;
}

// One's own password; the daemon checks the current one.
function passwordDialog() {
  return modal('Change your password', (close) => {
    const cur = h('input', { name: 'current', type: 'password', autocomplete: 'current-password' });
    const next = h('input', { name: 'new', type: 'password', autocomplete: 'new-password' });
    const again = h('input', { name: 'again', type: 'password', autocomplete: 'new-password' });
    const f = { cur: field('Current password', cur), next: field('New password', next, 'At least 8 characters.'), again: field('Repeat it', again) };
    return h('form', {
      class: 'form', id: 'password-form', onsubmit: async (e) => {
        e.preventDefault();
        Object.values(f).forEach((x) => x.setError(''));
        if (next.value !== again.value) { f.again.setError('The passwords differ.'); return; }
        try {
          await request('POST', '/api/password', { current: cur.value, new: next.value });
          toast('password changed');
          close(true);
        } catch (err) { (/current/i.test(err.message) ? f.cur : f.next).setError(err.message); }
      },
    }, f.cur, f.next, f.again, h('div', { class: 'form-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { class: 'btn primary', type: 'submit' }, 'Change')));
  });
}

async function logout() {
  try { await request('POST', '/auth/logout'); } finally { location.hash = '#/'; location.reload(); }
}

function route(main) {
  if (cleanup) { cleanup(); cleanup = null; }
  const path = (location.hash.replace(/^#/, '') || '/').split('/').filter(Boolean);
  const [page = 'overview', id] = path;
  document.querySelectorAll('.nav a').forEach((a) =>
    a.classList.toggle('active', a.dataset.page === page));
  main.replaceChildren();
  main.scrollTop = 0;
  const render = {
    overview: () => overview.render(main),
    containers: () => (id ? container.render(main, decodeURIComponent(id), path[2]) : containers.render(main)),
    images: () => images.render(main),
    volumes: () => resources.renderVolumes(main),
    networks: () => resources.renderNetworks(main),
    registry: () => registry.render(main),
    cluster: () => cluster.render(main),
    stacks: () => (id ? stacks.renderStack(main, decodeURIComponent(id)) : stacks.render(main)),
    routes: () => routes.render(main),
    apps: () => (id ? apps.renderApp(main, decodeURIComponent(id)) : apps.render(main)),
    users: () => users.render(main),
  }[page];
  cleanup = render ? render() : null;
  if (!render) main.append(h('div', { class: 'card empty' }, 'No such page.'));
}

async function boot() {
  const state = await (await request('GET', '/auth/state')).json();
  if (!state.user) {
    login.render(document.getElementById('app'), state.setup, boot);
    booted();
    return;
  }
  setSession(state.csrf, () => location.reload());
  const main = shell(state.user, state.role);
  window.onhashchange = () => route(main);
  route(main);
  booted();
}

// Tells boot.js's watchdog that the page is up.
function booted() {
  window.berthBooted = true;
  sessionStorage.removeItem('berth.bootTries');
}

boot().catch((e) => {
  document.getElementById('app').replaceChildren(h('div', { class: 'boot error' }, `Cannot reach the daemon: ${e.message}`));
});
