// A small time-series line chart on a canvas: a fixed window of samples,
// one or two series, the theme's colours, crisp on high-DPI screens.

export class Chart {
  constructor(title, format, series) {
    this.format = format;
    this.series = series.map((name) => ({ name, values: [] }));
    this.canvas = document.createElement('canvas');
    this.legend = document.createElement('div');
    this.legend.className = 'chart-legend';
    this.el = document.createElement('div');
    this.el.className = 'card chart';
    const h = document.createElement('h3');
    h.textContent = title;
    this.el.append(h, this.legend, this.canvas);
    this.max = 60;
  }

  push(...values) {
    values.forEach((v, i) => {
      const s = this.series[i].values;
      s.push(Math.max(0, v || 0));
      if (s.length > this.max) s.shift();
    });
    this.draw();
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth || 300;
    const hgt = c.clientHeight || 140;
    if (c.width !== w * dpr) { c.width = w * dpr; c.height = hgt * dpr; }
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    const css = getComputedStyle(document.documentElement);
    const colors = [css.getPropertyValue('--accent').trim(), css.getPropertyValue('--accent2').trim()];
    const grid = css.getPropertyValue('--border').trim();
    const text = css.getPropertyValue('--muted').trim();
    const all = this.series.flatMap((s) => s.values);
    const top = Math.max(1e-9, ...all) * 1.15;
    const left = 56;
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = text;
    g.strokeStyle = grid;
    g.lineWidth = 1;
    for (let i = 0; i <= 3; i++) {
      const y = 6 + ((hgt - 12) * i) / 3;
      g.beginPath(); g.moveTo(left, y); g.lineTo(w, y); g.stroke();
      g.fillText(this.format(top * (1 - i / 3)), 2, y + 4);
    }
    this.series.forEach((s, si) => {
      if (s.values.length < 2) return;
      const step = (w - left) / (this.max - 1);
      const x0 = left + (this.max - s.values.length) * step;
      g.beginPath();
      s.values.forEach((v, i) => {
        const x = x0 + i * step;
        const y = 6 + (hgt - 12) * (1 - v / top);
        if (i) g.lineTo(x, y); else g.moveTo(x, y);
      });
      g.strokeStyle = colors[si];
      g.lineWidth = 2;
      g.stroke();
      g.lineTo(x0 + (s.values.length - 1) * step, hgt - 6);
      g.lineTo(x0, hgt - 6);
      g.closePath();
      g.globalAlpha = 0.12;
      g.fillStyle = colors[si];
      g.fill();
      g.globalAlpha = 1;
    });
    this.legend.innerHTML = '';
    this.series.forEach((s, si) => {
      const span = document.createElement('span');
      span.style.setProperty('--c', colors[si]);
      const last = s.values[s.values.length - 1];
      span.textContent = `${s.name} ${last === undefined ? '–' : this.format(last)}`;
      this.legend.append(span);
    });
  }
}
