// Recreating a container on the image its tag now names (after a pull of
// a newer version): the same configuration, name and networks, through
// the Docker API. The old container is kept aside until the new one runs,
// and put back as it was when anything fails.

import { docker } from './api.js';
import { h, toast } from './dom.js';

// The create body of a container like `c` (what `docker run` sent, as far
// as inspect shows it); the hostname goes when it was the old id's.
function createBody(c) {
  const config = { ...c.Config };
  if (c.Id.startsWith(config.Hostname || '-')) delete config.Hostname;
  // The network of NetworkMode keeps its endpoint settings (a fixed
  // address, aliases); the built-in modes need none. Others are joined
  // after the create, as `docker network connect` would.
  const mode = c.HostConfig.NetworkMode;
  const endpoints = {};
  const extra = [];
  for (const [name, n] of Object.entries(c.NetworkSettings?.Networks || {})) {
    const ep = { IPAMConfig: n.IPAMConfig || undefined, Aliases: (n.Aliases || []).filter((a) => !c.Id.startsWith(a)) };
    if (BUILTIN.includes(name)) continue;
    if (name === mode) endpoints[name] = ep; else extra.push([name, ep]);
  }
  return { body: { ...config, HostConfig: c.HostConfig, NetworkingConfig: { EndpointsConfig: endpoints } }, extra };
}

const BUILTIN = ['bridge', 'host', 'none', 'default'];

export async function recreate(c) {
  const name = c.Name.replace(/^\//, '');
  const aside = `${name}-replaced-${c.Id.slice(0, 6)}`;
  const wasRunning = c.State.Running;
  if (wasRunning) await docker.post(`/containers/${c.Id}/stop`);
  await docker.post(`/containers/${c.Id}/rename?name=${encodeURIComponent(aside)}`);
  let fresh = null;
  try {
    const { body, extra } = createBody(c);
    fresh = (await docker.postJson(`/containers/create?name=${encodeURIComponent(name)}`, body)).Id;
    for (const [net, ep] of extra) await docker.postJson(`/networks/${encodeURIComponent(net)}/connect`, { Container: fresh, EndpointConfig: ep });
    if (wasRunning) await docker.post(`/containers/${fresh}/start`);
  } catch (err) {
    if (fresh) await docker.del(`/containers/${fresh}?force=1`).catch(() => {});
    await docker.post(`/containers/${c.Id}/rename?name=${encodeURIComponent(name)}`).catch(() => {});
    if (wasRunning) await docker.post(`/containers/${c.Id}/start`).catch(() => {});
    throw err;
  }
  await docker.del(`/containers/${c.Id}?force=1`);
  return fresh;
}

// A notice on the container's page when its image's tag has moved on.
export async function staleNotice(c, onDone) {
  let img;
  try {
    img = await docker.get(`/images/${encodeURIComponent(c.Config.Image)}/json`);
  } catch {
    return null;
  }
  if (img.Id === c.Image) return null;
  const button = h('button', {
    class: 'btn primary', id: 'recreate', onclick: async () => {
      button.disabled = true;
      try {
        const id = await recreate(c);
        toast(`recreated ${c.Name.replace(/^\//, '')} on ${c.Config.Image}`);
        onDone(id);
      } catch (err) {
        toast(`recreate failed, the old container is back: ${err.message}`, 'error');
        button.disabled = false;
      }
    },
  }, 'Recreate with the new image');
  return h('div', { class: 'card notice', id: 'stale-image' },
    h('div', {}, h('strong', {}, `${c.Config.Image} has a newer image`),
      h('div', { class: 'muted small' }, `This container runs ${c.Image.slice(7, 19)}; the tag now names ${img.Id.slice(7, 19)}. Recreating keeps its name, configuration, volumes and networks.`)),
    button);
}
