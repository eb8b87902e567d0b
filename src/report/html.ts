/**
 * The HTML build report: one self-contained file (inline style, script and data; no network),
 * readable offline. The data is embedded as JSON and rendered on demand, so a host's table is
 * built only when it is opened. File contents are never embedded: only hashes, and diffs of
 * content that is not a secret.
 */
import { posix } from 'node:path';
import type { BuildDiff, BuildSnapshot } from '../diff/index.js';
import { describeChange, describeHosts, summaryLine } from '../diff/index.js';
import { classifyFile, describeSpecificity } from '../repo/index.js';
import type { EntrySet } from '../types.js';

export interface ReportInput {
  readonly build: BuildSnapshot;
  /** The diff against the previous build, when there is one. */
  readonly diff: BuildDiff | null;
  /** Entry sets of the repository (for which info.xml applied), when it is at hand. */
  readonly entrySets?: ReadonlyMap<string, EntrySet>;
  /** Seconds per phase, measured by the build that wrote the report. */
  readonly phases?: Readonly<Record<string, number>> | null;
}

/** Why a file was chosen, from the name of its source (specificity and handler) and its deltas. */
function why(source: string | undefined, deltas: readonly string[] | undefined, set: EntrySet | undefined): string {
  if (!source) return 'no record of the source in this build';
  const c = classifyFile(posix.basename(posix.dirname(source)), posix.basename(source));
  const parts = [c && c !== 'ignored' ? `${c.kind} file for ${describeSpecificity(c.specificity)}` : 'source'];
  if (deltas?.length) parts.push(`then ${deltas.length === 1 ? 'delta' : 'deltas'} ${deltas.map((d) => posix.basename(d)).join(', ')}`);
  const infos = set?.infos.map((i) => i.file.rel) ?? [];
  parts.push(infos.length ? `owner, group, mode from ${infos.join(', ')}` : set ? 'owner, group, mode: defaults ([mdata] of bcfg2.conf)' : '');
  return parts.filter(Boolean).join('; ');
}

/** JSON safe inside <script>: no "</script>", no "<!--", no line separators. */
const embed = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function renderReport(input: ReportInput): string {
  const { build, diff } = input;
  // Strings used by many files (paths, sources, owners) are stored once.
  const strings: string[] = [];
  const index = new Map<string, number>();
  const s = (x: string) => {
    let i = index.get(x);
    if (i === undefined) {
      i = strings.length;
      strings.push(x);
      index.set(x, i);
    }
    return i;
  };
  const failedHosts = new Map<string, { path: string; message: string; file?: string; line?: number }[]>();
  for (const f of build.failures) failedHosts.set(f.host, [...(failedHosts.get(f.host) ?? []), { path: f.path, message: f.message, ...(f.file ? { file: f.file } : {}), ...(f.line ? { line: f.line } : {}) }]);
  const names = [...new Set([...build.hosts.keys(), ...failedHosts.keys()])].sort();
  let files = 0;
  const hosts = names.map((name) => {
    const h = build.hosts.get(name);
    const rows = [...(h?.files.values() ?? [])].map((f) => {
      files++;
      return [s(f.path), f.secret ? 1 : 0, f.sha256, f.mode, s(f.owner), s(f.group), s(f.source ?? ''), s(why(f.source, f.deltas, input.entrySets?.get(f.path)))];
    });
    return { n: name, f: rows, x: failedHosts.get(name) ?? [], published: Boolean(h) };
  });
  const changes = diff?.changes.map((c) => ({ path: c.path, what: describeChange(c), who: describeHosts(c), hosts: c.hosts, diff: c.secret ? null : (c.diff ?? null) })) ?? null;
  const data = {
    strings,
    hosts,
    warnings: build.warnings.map((w) => ({ code: w.code, message: w.message, file: w.file ?? null, line: w.line ?? null, host: w.host ?? null, path: w.path ?? null })),
    diff: diff ? { summary: summaryLine(diff), against: diff.old.builtAt ?? diff.old.label, changes } : null,
  };
  const phases = input.phases ?? build.phases;
  const title = `bindery build report${build.revision ? ` (${build.revision.slice(0, 12)})` : ''}`;
  const stat = (label: string, value: string | number, cls = '') => `<div class="stat ${cls}"><b>${esc(String(value))}</b><span>${esc(label)}</span></div>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f8fa}
header,main{max-width:1100px;margin:0 auto;padding:12px 20px}
h1{font-size:20px;margin:8px 0}h2{font-size:16px;margin:20px 0 8px}
.stats{display:flex;gap:10px;flex-wrap:wrap}.stat{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;min-width:90px}
.stat b{display:block;font-size:20px}.stat span{color:#57606a}.bad b{color:#cf222e}.warn b{color:#9a6700}
input[type=search]{width:100%;box-sizing:border-box;font-size:15px;padding:8px;border:1px solid #d0d7de;border-radius:6px}
ul.hosts{list-style:none;padding:0;margin:8px 0}ul.hosts>li{background:#fff;border:1px solid #d0d7de;border-radius:6px;margin:4px 0}
ul.hosts button{all:unset;cursor:pointer;display:block;padding:6px 10px;width:100%;box-sizing:border-box}
ul.hosts button:focus{outline:2px solid #0969da}.failed button{color:#cf222e}
table{border-collapse:collapse;width:100%;background:#fff}td,th{border-top:1px solid #eaeef2;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
code,pre{font:12px ui-monospace,monospace}td code{word-break:break-all}.detail{overflow-x:auto;padding:0 6px 6px}pre{background:#fff;border:1px solid #d0d7de;padding:8px;overflow:auto}
.secret{color:#8250df}.muted{color:#57606a}.del{color:#cf222e}.add{color:#1a7f37}
</style></head><body>
<header><h1>${esc(title)}</h1>
<div class="muted">built ${esc(build.builtAt ?? 'at an unknown time')}${build.revision ? `, revision <code>${esc(build.revision)}</code>` : ''}; from ${esc(build.label)}</div>
<div class="stats" id="summary">${stat('hosts', names.length)}${stat('files', files)}${stat('failures', build.failures.length, build.failures.length ? 'bad' : '')}${stat('warnings', build.warnings.length, build.warnings.length ? 'warn' : '')}${
    phases ? Object.entries(phases).map(([p, sec]) => stat(`${p} (s)`, sec.toFixed(2))).join('') : ''
  }</div></header>
<main>
<section id="failures"></section>
<section id="diff"></section>
<h2>Hosts</h2>
<input type="search" id="search" placeholder="Search hosts (name contains…)" autocomplete="off">
<div class="muted" id="count"></div>
<ul class="hosts" id="hosts"></ul>
<section id="warnings"></section>
</main>
<script type="application/json" id="data">${embed(data)}</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById('data').textContent);
const S = D.strings;
const el = (tag, attrs, ...kids) => { const e = document.createElement(tag); for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v); for (const k of kids) e.append(k); return e; };
const where = (x) => x.file ? x.file + (x.line ? ':' + x.line : '') : '';
function hostTable(h) {
  const box = el('div', { class: 'detail' });
  if (h.x.length) {
    box.append(el('p', { class: 'del' }, h.published ? 'failed paths:' : 'not published: every path must bind (failed paths below)'));
    const t = el('table', {}, el('tr', {}, el('th', {}, 'path'), el('th', {}, 'where'), el('th', {}, 'error')));
    for (const x of h.x) t.append(el('tr', {}, el('td', {}, el('code', {}, x.path)), el('td', {}, el('code', {}, where(x))), el('td', {}, x.message)));
    box.append(t);
  }
  if (h.f.length) {
    const t = el('table', {}, el('tr', {}, el('th', {}, 'path'), el('th', {}, 'mode'), el('th', {}, 'owner:group'), el('th', {}, 'file chosen'), el('th', {}, 'why'), el('th', {}, 'sha256')));
    for (const [p, secret, sha, mode, o, g, src, why] of h.f) {
      t.append(el('tr', { 'data-path': S[p] }, el('td', {}, el('code', {}, S[p])), el('td', {}, mode), el('td', {}, S[o] + ':' + S[g]), el('td', {}, el('code', {}, S[src] || '?')), el('td', {}, S[why]), el('td', secret ? { class: 'secret', title: 'secret: content never shown' } : {}, el('code', {}, sha.slice(0, 16) + (secret ? ' (secret)' : '')))));
    }
    box.append(t);
  }
  return box;
}
const list = document.getElementById('hosts');
const SHOWN = 500;
function show(q) {
  list.textContent = '';
  const hits = D.hosts.filter((h) => h.n.includes(q.trim().toLowerCase()));
  for (const h of hits.slice(0, SHOWN)) {
    const li = el('li', { class: h.x.length ? 'failed' : '', 'data-host': h.n });
    const b = el('button', { 'aria-expanded': 'false' }, h.n + ' — ' + h.f.length + ' files' + (h.x.length ? ', ' + h.x.length + ' failed' : ''));
    b.addEventListener('click', () => {
      const open = li.querySelector('.detail');
      if (open) { open.remove(); b.setAttribute('aria-expanded', 'false'); }
      else { li.append(hostTable(h)); b.setAttribute('aria-expanded', 'true'); }
    });
    li.append(b);
    list.append(li);
  }
  document.getElementById('count').textContent = hits.length + ' of ' + D.hosts.length + ' hosts' + (hits.length > SHOWN ? ' (first ' + SHOWN + ' shown: refine the search)' : '');
}
document.getElementById('search').addEventListener('input', (e) => show(e.target.value));
show('');
const fails = D.hosts.flatMap((h) => h.x.map((x) => Object.assign({ host: h.n }, x)));
if (fails.length) {
  const t = el('table', {}, el('tr', {}, el('th', {}, 'where'), el('th', {}, 'host'), el('th', {}, 'path'), el('th', {}, 'error')));
  for (const x of fails) t.append(el('tr', {}, el('td', {}, el('code', {}, where(x))), el('td', {}, x.host), el('td', {}, el('code', {}, x.path)), el('td', {}, x.message)));
  document.getElementById('failures').append(el('h2', {}, 'Failures'), t);
}
if (D.warnings.length) {
  const t = el('table', {}, el('tr', {}, el('th', {}, 'where'), el('th', {}, 'code'), el('th', {}, 'warning')));
  for (const w of D.warnings) t.append(el('tr', {}, el('td', {}, el('code', {}, where(w) || w.path || '')), el('td', {}, w.code), el('td', {}, w.message + (w.host ? ' (host ' + w.host + ')' : ''))));
  document.getElementById('warnings').append(el('h2', {}, 'Warnings'), t);
}
if (D.diff) {
  const sec = document.getElementById('diff');
  sec.append(el('h2', {}, 'Changes since the previous build'), el('p', { class: 'muted' }, D.diff.summary + ' (previous build: ' + D.diff.against + ')'));
  for (const c of D.diff.changes) {
    const d = el('details', {}, el('summary', {}, el('code', {}, c.path), ': ' + c.what + ' on ' + c.who));
    if (c.diff) {
      const pre = el('pre');
      for (const line of c.diff.split('\\n')) pre.append(el('span', { class: line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : '' }, line + '\\n'));
      d.append(pre);
    }
    d.append(el('p', { class: 'muted' }, 'hosts: ' + c.hosts.join(', ')));
    sec.append(d);
  }
}
</script></body></html>
`;
}
