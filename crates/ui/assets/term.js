// The console's terminal: a VT100/xterm subset (what a shell and busybox
// tools emit: text, CR/LF, backspace, tabs, cursor moves, erase, SGR
// colours) drawn into rows of spans. Keys go out as the bytes a terminal
// sends. Debian's libjs-xterm (3.8.1) ships only an unbundled stub, so the
// dashboard carries this instead of an npm build step.

const PALETTE = ['#000', '#c23621', '#25bc24', '#adad27', '#492ee1', '#d338d3', '#33bbc8', '#cbcccd',
  '#818383', '#fc391f', '#31e722', '#eaec23', '#5833ff', '#f935f8', '#14f0f0', '#e9ebeb'];

export class Terminal {
  constructor(el, onData) {
    this.el = el;
    this.onData = onData;
    this.rows = 24; this.cols = 80;
    this.x = 0; this.y = 0;
    this.attr = { fg: null, bg: null, bold: false, inverse: false };
    this.grid = [];
    this.pending = '';
    this.screen = document.createElement('div');
    this.screen.className = 'term-screen';
    this.input = document.createElement('textarea');
    this.input.className = 'term-input';
    this.input.setAttribute('aria-label', 'terminal input');
    this.input.autocapitalize = 'off';
    this.input.spellcheck = false;
    el.append(this.screen, this.input);
    el.addEventListener('mousedown', () => setTimeout(() => this.input.focus()));
    this.input.addEventListener('keydown', (e) => this.key(e));
    this.input.addEventListener('input', () => {
      if (this.input.value) { this.onData(this.input.value); this.input.value = ''; }
    });
    this.input.addEventListener('paste', (e) => {
      e.preventDefault();
      this.onData(e.clipboardData.getData('text').replace(/\r?\n/g, '\r'));
    });
    this.resize(24, 80);
  }

  blank() { return { ch: ' ', a: null }; }
  line() { return Array.from({ length: this.cols }, () => this.blank()); }

  // Fits the grid to the element: returns [rows, cols].
  fit() {
    const probe = document.createElement('span');
    probe.textContent = 'W'.repeat(10);
    this.screen.append(probe);
    const r = probe.getBoundingClientRect();
    probe.remove();
    const cw = r.width / 10 || 8;
    const ch = r.height || 17;
    const rows = Math.max(5, Math.floor((this.el.clientHeight - 16) / ch));
    const cols = Math.max(20, Math.floor((this.el.clientWidth - 16) / cw));
    this.resize(rows, cols);
    return [rows, cols];
  }

  resize(rows, cols) {
    this.rows = rows; this.cols = cols;
    while (this.grid.length < rows) this.grid.push(this.line());
    while (this.grid.length > rows) this.grid.shift();
    this.grid = this.grid.map((l) => {
      const n = l.slice(0, cols);
      while (n.length < cols) n.push(this.blank());
      return n;
    });
    this.x = Math.min(this.x, cols - 1); this.y = Math.min(this.y, rows - 1);
    this.render();
  }

  focus() { this.input.focus(); }

  key(e) {
    const map = {
      Enter: '\r', Backspace: '\x7f', Tab: '\t', Escape: '\x1b',
      ArrowUp: '\x1b[A', ArrowDown: '\x1b[B', ArrowRight: '\x1b[C', ArrowLeft: '\x1b[D',
      Home: '\x1b[H', End: '\x1b[F', Delete: '\x1b[3~', PageUp: '\x1b[5~', PageDown: '\x1b[6~',
    };
    let out = map[e.key];
    if (!out && e.ctrlKey && !e.altKey && e.key.length === 1) {
      const c = e.key.toUpperCase().charCodeAt(0);
      if (c >= 64 && c <= 95) out = String.fromCharCode(c - 64);
    }
    if (out) { e.preventDefault(); this.onData(out); }
  }

  write(text) {
    let s = this.pending + text;
    this.pending = '';
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '\x1b') {
        const rest = s.slice(i);
        const csi = /^\x1b\[([?>]?)([\d;]*)([@-~])/.exec(rest);
        const osc = /^\x1b\][^\x07\x1b]*(\x07|\x1b\\)/.exec(rest);
        if (csi) { this.csi(csi[1], csi[2], csi[3]); i += csi[0].length; continue; }
        if (osc) { i += osc[0].length; continue; }
        if (/^\x1b(\[[?>]?[\d;]*|\][^\x07]*)?$/.test(rest)) { this.pending = rest; break; }
        i += 2; // two-byte sequences (charset, keypad modes): nothing to draw
        continue;
      }
      i++;
      if (c === '\r') this.x = 0;
      else if (c === '\n') this.newline();
      else if (c === '\b') this.x = Math.max(0, this.x - 1);
      else if (c === '\t') this.x = Math.min(this.cols - 1, (Math.floor(this.x / 8) + 1) * 8);
      else if (c === '\x07' || c < ' ') { /* bell and other controls */ }
      else {
        if (this.x >= this.cols) { this.x = 0; this.newline(); }
        this.grid[this.y][this.x++] = { ch: c, a: this.attrKey() };
      }
    }
    this.scheduleRender();
  }

  newline() {
    if (this.y === this.rows - 1) { this.grid.shift(); this.grid.push(this.line()); }
    else this.y++;
  }

  attrKey() {
    const a = this.attr;
    return a.fg === null && a.bg === null && !a.bold && !a.inverse ? null : { ...a };
  }

  csi(priv, params, cmd) {
    const p = params.split(';').map((n) => parseInt(n, 10));
    const n = (k, d = 1) => (isNaN(p[k]) || p[k] === 0 ? d : p[k]);
    if (priv) return;
    switch (cmd) {
      case 'A': this.y = Math.max(0, this.y - n(0)); break;
      case 'B': this.y = Math.min(this.rows - 1, this.y + n(0)); break;
      case 'C': this.x = Math.min(this.cols - 1, this.x + n(0)); break;
      case 'D': this.x = Math.max(0, this.x - n(0)); break;
      case 'G': this.x = Math.min(this.cols - 1, n(0) - 1); break;
      case 'H': case 'f': this.y = Math.min(this.rows - 1, n(0) - 1); this.x = Math.min(this.cols - 1, n(1) - 1); break;
      case 'K': {
        const row = this.grid[this.y];
        const mode = p[0] || 0;
        for (let x = 0; x < this.cols; x++) {
          if ((mode === 0 && x >= this.x) || (mode === 1 && x <= this.x) || mode === 2) row[x] = this.blank();
        }
        break;
      }
      case 'J': {
        const mode = p[0] || 0;
        if (mode === 2 || mode === 3) { this.grid = this.grid.map(() => this.line()); break; }
        for (let y = 0; y < this.rows; y++) {
          if ((mode === 0 && y > this.y) || (mode === 1 && y < this.y)) this.grid[y] = this.line();
        }
        this.csi('', String(mode), 'K');
        break;
      }
      case 'P': { const row = this.grid[this.y]; row.splice(this.x, n(0)); while (row.length < this.cols) row.push(this.blank()); break; }
      case '@': { const row = this.grid[this.y]; row.splice(this.x, 0, ...Array.from({ length: n(0) }, () => this.blank())); row.length = this.cols; break; }
      case 'm': this.sgr(params ? p : [0]); break;
      default: break;
    }
  }

  sgr(p) {
    for (let i = 0; i < p.length; i++) {
      const v = isNaN(p[i]) ? 0 : p[i];
      if (v === 0) this.attr = { fg: null, bg: null, bold: false, inverse: false };
      else if (v === 1) this.attr.bold = true;
      else if (v === 22) this.attr.bold = false;
      else if (v === 7) this.attr.inverse = true;
      else if (v === 27) this.attr.inverse = false;
      else if (v >= 30 && v <= 37) this.attr.fg = PALETTE[v - 30 + (this.attr.bold ? 8 : 0)];
      else if (v >= 90 && v <= 97) this.attr.fg = PALETTE[v - 90 + 8];
      else if (v === 39) this.attr.fg = null;
      else if (v >= 40 && v <= 47) this.attr.bg = PALETTE[v - 40];
      else if (v >= 100 && v <= 107) this.attr.bg = PALETTE[v - 100 + 8];
      else if (v === 49) this.attr.bg = null;
      else if ((v === 38 || v === 48) && p[i + 1] === 5) i += 2;
      else if ((v === 38 || v === 48) && p[i + 1] === 2) i += 4;
    }
  }

  scheduleRender() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => { this.raf = null; this.render(); });
  }

  render() {
    const frag = document.createDocumentFragment();
    this.grid.forEach((row, y) => {
      const div = document.createElement('div');
      div.className = 'term-row';
      let run = '';
      let runAttr = null;
      const flush = () => {
        if (!run) return;
        const span = document.createElement('span');
        span.textContent = run;
        if (runAttr) {
          const fg = runAttr.inverse ? runAttr.bg || 'var(--term-bg)' : runAttr.fg;
          const bg = runAttr.inverse ? runAttr.fg || 'var(--term-fg)' : runAttr.bg;
          if (fg) span.style.color = fg;
          if (bg) span.style.background = bg;
          if (runAttr.bold) span.style.fontWeight = '700';
        }
        div.append(span);
        run = '';
      };
      row.forEach((cell, x) => {
        const isCursor = y === this.y && x === this.x;
        if (isCursor) {
          flush();
          const cur = document.createElement('span');
          cur.className = 'term-cursor';
          cur.textContent = cell.ch;
          div.append(cur);
          return;
        }
        if (JSON.stringify(cell.a) !== JSON.stringify(runAttr)) { flush(); runAttr = cell.a; }
        run += cell.ch;
      });
      flush();
      frag.append(div);
    });
    this.screen.replaceChildren(frag);
  }

  text() {
    return this.grid.map((r) => r.map((c) => c.ch).join('').trimEnd()).join('\n');
  }
}
