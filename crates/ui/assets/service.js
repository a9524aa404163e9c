// Creating a swarm service from a form (what `docker service create`
// sends): the form's own syntax errors and the daemon's message appear
// beside the field they concern; a refused spec creates nothing (the
// daemon validates the whole spec before storing it).

import { docker } from './api.js';
import { h, modal, field, toast } from './dom.js';
import { lines, parseEnv, parseMemory, parseCmd } from './containers.js';

// `docker service create -p`: [PUBLISHED:]TARGET[/PROTOCOL], or the long
// syntax's published=,target=,protocol=,mode=.
function parsePorts(text) {
  return lines(text).map((l) => {
    if (l.includes('=')) {
      const kv = Object.fromEntries(l.split(',').map((p) => p.split('=').map((s) => s.trim())));
      const bad = Object.keys(kv).find((k) => !['published', 'target', 'protocol', 'mode'].includes(k));
      if (bad) throw new Error(`invalid port "${l}": unknown key ${bad}`);
      if (!/^\d+$/.test(kv.target || '')) throw new Error(`invalid port "${l}": target=PORT is required`);
      return {
        TargetPort: Number(kv.target),
        PublishedPort: kv.published ? Number(kv.published) : undefined,
        Protocol: kv.protocol || 'tcp',
        PublishMode: kv.mode || 'ingress',
      };
    }
    const m = /^(?:(\d+):)?(\d+)(?:\/(tcp|udp|sctp))?$/.exec(l);
    if (!m) throw new Error(`invalid port "${l}": expected [PUBLISHED:]TARGET[/tcp|udp]`);
    return { TargetPort: Number(m[2]), PublishedPort: m[1] ? Number(m[1]) : undefined, Protocol: m[3] || 'tcp', PublishMode: 'ingress' };
  });
}

function parseConstraints(text) {
  return lines(text).map((l) => {
    if (!/^[\w.\-]+\s*(==|!=)\s*\S+/.test(l)) throw new Error(`invalid constraint "${l}": expected e.g. node.role==manager`);
    return l;
  });
}

// Which field a daemon error is about, by the words Docker's messages use.
function fieldOf(message) {
  const m = message.toLowerCase();
  if (/constraint|placement/.test(m)) return 'constraints';
  if (/port/.test(m)) return 'ports';
  if (/network/.test(m)) return 'networks';
  if (/name|already exists|conflict/.test(m)) return 'name';
  if (/image|reference/.test(m)) return 'image';
  if (/replica/.test(m)) return 'replicas';
  if (/memory/.test(m)) return 'memory';
  if (/cpu/.test(m)) return 'cpus';
  if (/restart/.test(m)) return 'restart';
  if (/env/.test(m)) return 'env';
  return null;
}

export async function createServiceDialog() {
  const nets = (await docker.get('/networks').catch(() => [])).filter((n) => n.Scope === 'swarm' && n.Name !== 'ingress');
  return modal('Create a service', (close) => {
    const inputs = {
      name: h('input', { name: 'name', required: true }),
      image: h('input', { name: 'image', required: true, placeholder: 'busybox:latest' }),
      mode: h('select', { name: 'mode' }, h('option', { value: 'replicated' }, 'replicated'), h('option', { value: 'global' }, 'global (one per node)')),
      replicas: h('input', { name: 'replicas', value: '1' }),
      cmd: h('input', { name: 'cmd', placeholder: 'e.g. sleep 1d' }),
      env: h('textarea', { name: 'env', rows: 2, placeholder: 'KEY=value, one a line' }),
      ports: h('textarea', { name: 'ports', rows: 2, placeholder: '8080:80, one a line' }),
      networks: h('input', { name: 'networks', placeholder: nets.length ? nets.map((n) => n.Name).join(', ') : 'overlay networks, comma separated' }),
      constraints: h('textarea', { name: 'constraints', rows: 2, placeholder: 'node.role==manager, one a line' }),
      memory: h('input', { name: 'memory', placeholder: 'e.g. 256m' }),
      cpus: h('input', { name: 'cpus', placeholder: 'e.g. 0.5' }),
      restart: h('select', { name: 'restart' }, ['any', 'on-failure', 'none'].map((r) => h('option', { value: r }, r))),
    };
    const fields = {
      name: field('Name', inputs.name), image: field('Image', inputs.image),
      mode: field('Mode', inputs.mode), replicas: field('Replicas', inputs.replicas),
      cmd: field('Command', inputs.cmd, 'Empty: the image\'s default.'),
      env: field('Environment', inputs.env), ports: field('Published ports', inputs.ports),
      networks: field('Networks', inputs.networks), constraints: field('Placement constraints', inputs.constraints),
      memory: field('Memory limit', inputs.memory), cpus: field('CPU limit', inputs.cpus),
      restart: field('Restart condition', inputs.restart),
    };
    const formError = h('div', { class: 'form-error', role: 'alert' });
    const submit = h('button', { class: 'btn primary', type: 'submit', id: 'service-submit' }, 'Create');

    function spec() {
      let failed = false;
      const attempt = (key, fn) => {
        try { return fn(); } catch (e) { fields[key].setError(e.message); failed = true; return undefined; }
      };
      const v = (k) => inputs[k].value.trim();
      if (!v('name')) { fields.name.setError('a name is required'); failed = true; }
      if (!v('image')) { fields.image.setError('an image is required'); failed = true; }
      const replicas = attempt('replicas', () => {
        if (!/^\d+$/.test(v('replicas'))) throw new Error(`invalid replicas "${v('replicas')}": a whole number`);
        return Number(v('replicas'));
      });
      const env = attempt('env', () => parseEnv(inputs.env.value));
      const ports = attempt('ports', () => parsePorts(inputs.ports.value));
      const constraints = attempt('constraints', () => parseConstraints(inputs.constraints.value));
      const memory = attempt('memory', () => parseMemory(v('memory')));
      const cpus = attempt('cpus', () => {
        if (!v('cpus')) return 0;
        if (!/^\d+(\.\d+)?$/.test(v('cpus'))) throw new Error(`invalid CPUs "${v('cpus')}": a number, e.g. 0.5`);
        return Math.round(parseFloat(v('cpus')) * 1e9);
      });
      if (failed) return null;
      const cmd = parseCmd(inputs.cmd.value);
      const networks = v('networks').split(/[\s,]+/).filter(Boolean).map((Target) => ({ Target }));
      return {
        Name: v('name'),
        TaskTemplate: {
          ContainerSpec: { Image: v('image'), Args: cmd.length ? cmd : undefined, Env: env.length ? env : undefined },
          Resources: { Limits: { MemoryBytes: memory || undefined, NanoCPUs: cpus || undefined } },
          RestartPolicy: { Condition: inputs.restart.value },
          Placement: constraints.length ? { Constraints: constraints } : undefined,
          Networks: networks.length ? networks : undefined,
        },
        Mode: inputs.mode.value === 'global' ? { Global: {} } : { Replicated: { Replicas: replicas } },
        EndpointSpec: ports.length ? { Ports: ports } : undefined,
      };
    }

    async function onSubmit(e) {
      e.preventDefault();
      Object.values(fields).forEach((f) => f.setError(''));
      formError.textContent = '';
      const body = spec();
      if (!body) return;
      submit.disabled = true;
      try {
        const r = await docker.postJson('/services/create', body);
        (r.Warnings || []).forEach((w) => toast(w, 'error'));
        toast(`created service ${body.Name}`);
        close(true);
      } catch (err) {
        const f = fieldOf(err.message);
        if (f) fields[f].setError(err.message); else formError.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    }
    inputs.mode.addEventListener('change', () => { fields.replicas.hidden = inputs.mode.value === 'global'; });
    return h('form', { class: 'form grid-form', id: 'service-form', onsubmit: onSubmit, novalidate: true },
      fields.name, fields.image, fields.mode, fields.replicas, h('div', { class: 'span2' }, fields.cmd),
      fields.env, fields.ports, fields.networks, fields.constraints,
      h('div', { class: 'pair' }, fields.memory, fields.cpus), fields.restart,
      h('div', { class: 'span2' }, formError),
      h('div', { class: 'form-actions span2' },
        h('button', { class: 'btn', type: 'button', onclick: () => close(false) }, 'Cancel'), submit));
  }, true);
}
