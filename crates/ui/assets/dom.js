// DOM helpers and formatting shared by the pages.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'html') el.innerHTML = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]);

export function bytes(n) {
  if (n === undefined || n === null || isNaN(n)) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n < 10 && i ? n.toFixed(1) : Math.round(n)} ${u[i]}`;
}

export function ago(seconds) {
  const s = Math.max(0, Date.now() / 1000 - seconds);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const shortId = (id) => (id || '').replace(/^sha256:/, '').slice(0, 12);

export function badge(state) {
  return `<span class="badge st-${esc(state)}">${esc(state)}</span>`;
}

// A page's title bar: heading, optional subtitle, actions on the right.
export function header(title, sub, ...actions) {
  return h('div', { class: 'page-head' },
    h('div', {}, h('h1', {}, title), sub ? h('p', { class: 'muted' }, sub) : null),
    h('div', { class: 'actions' }, ...actions));
}

export function toast(message, kind = 'ok') {
  let box = document.querySelector('.toasts');
  if (!box) { box = h('div', { class: 'toasts' }); document.body.append(box); }
  const t = h('div', { class: `toast ${kind}`, role: 'status' }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 20000 : 3500);
}

// A dialog over the page; resolves when closed. `body` gets a close function.
export function modal(title, build, wide) {
  return new Promise((resolve) => {
    const close = (v) => { back.remove(); resolve(v); };
    const card = h('div', { class: `modal${wide ? ' wide' : ''}`, role: 'dialog', 'aria-label': title },
      h('div', { class: 'modal-head' }, h('h2', {}, title),
        h('button', { class: 'icon-btn', title: 'Close', onclick: () => close(null) }, '✕')));
    const back = h('div', { class: 'backdrop', onclick: (e) => { if (e.target === back) close(null); } }, card);
    card.append(build(close));
    document.body.append(back);
    const first = card.querySelector('input, textarea, select');
    if (first) first.focus();
  });
}

// A labelled field with room for its own error message beneath.
export function field(label, input, hint) {
  const err = h('div', { class: 'field-error', role: 'alert' });
  const wrap = h('label', { class: 'field' }, h('span', { class: 'label' }, label), input,
    hint ? h('span', { class: 'hint' }, hint) : null, err);
  wrap.setError = (m) => { err.textContent = m || ''; wrap.classList.toggle('invalid', !!m); };
  return wrap;
}

export async function confirmAction(title, text, verb = 'Confirm') {
  return modal(title, (close) => h('div', {},
    h('p', {}, text),
    h('div', { class: 'form-actions' },
      h('button', { class: 'btn', onclick: () => close(false) }, 'Cancel'),
      h('button', { class: 'btn danger', onclick: () => close(true) }, verb))));
}

// Asks for one value (rename, tag); `submit` throws to show an error beside the field.
export function prompt(title, label, value, submit) {
  return modal(title, (close) => {
    const input = h('input', { value: value || '', name: 'value' });
    const f = field(label, input);
    return h('form', {
      class: 'form', onsubmit: async (e) => {
        e.preventDefault();
        try { await submit(input.value); close(true); } catch (err) { f.setError(err.message); }
      },
    }, f, h('div', { class: 'form-actions' },
      h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { class: 'btn primary', type: 'submit' }, 'Save')));
  });
}

export function jsonView(obj) {
  return h('pre', { class: 'json' }, JSON.stringify(obj, null, 2));
}

export function notImplemented(what) {
  return h('div', { class: 'card empty notimpl' }, h('strong', {}, 'not implemented yet: '), what);
}
