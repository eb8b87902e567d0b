import type { BuildDiff, Change, FileSide } from './compare.js';

const n = (x: number) => x.toLocaleString('en-US');
const plural = (x: number, one: string, many = one + 's') => `${n(x)} ${x === 1 ? one : many}`;
const short = (sha: string) => sha.slice(0, 12);

/** "host a", "hosts a, b", "1,834 hosts in groups web, db", "40 hosts (a, b, c, …)". */
export function describeHosts(c: Change, listed = 3): string {
  const h = c.hosts;
  if (h.length === 1) return `host ${h[0]}`;
  const groups = c.groups?.length ? ` in group${c.groups.length === 1 ? '' : 's'} ${c.groups.join(', ')}` : '';
  if (groups) return `${plural(h.length, 'host')}${groups}`;
  if (c.exceptGroups?.length) return `${plural(h.length, 'host')}: every host except group${c.exceptGroups.length === 1 ? '' : 's'} ${c.exceptGroups.join(', ')}`;
  if (h.length <= listed) return `hosts ${h.join(', ')}`;
  return `${plural(h.length, 'host')} (${h.slice(0, listed).join(', ')}, …)`;
}

const meta = (s: FileSide) => `${s.mode} ${s.owner}:${s.group}`;

/** One line: what happened to the path, without the hosts. */
export function describeChange(c: Change): string {
  if (c.kind === 'added') return `added (${meta(c.new!)}${c.new!.source ? `, from ${c.new!.source}` : ''}${c.secret ? `, secret: sha256 ${short(c.new!.sha256)}` : ''})`;
  if (c.kind === 'removed') return 'removed';
  const parts = c.fields.map((f) => {
    if (f === 'content') return c.secret ? `secret content changed (sha256 ${short(c.old!.sha256)} → ${short(c.new!.sha256)})` : c.binary ? `binary content changed (sha256 ${short(c.old!.sha256)} → ${short(c.new!.sha256)})` : 'content changed';
    return `${f} ${c.old![f]} → ${c.new![f]}`;
  });
  return parts.join(', ');
}

export function summaryLine(d: BuildDiff): string {
  const compared = d.hostsChanged.length + d.hostsUnchanged;
  const parts = [`${plural(compared, 'host')} in both builds: ${n(d.hostsChanged.length)} changed, ${n(d.hostsUnchanged)} unchanged`];
  if (d.hostsAdded.length) parts.push(`${plural(d.hostsAdded.length, 'host')} added`);
  if (d.hostsRemoved.length) parts.push(`${plural(d.hostsRemoved.length, 'host')} removed`);
  if (d.newFailures.length) parts.push(`${plural(d.newFailures.length, 'new failure')}`);
  if (d.fixedFailures.length) parts.push(`${plural(d.fixedFailures.length, 'failure')} fixed`);
  return `${parts.join('; ')}; ${plural(d.changes.length, 'distinct change')}`;
}

/** Said when one edit is shown for hosts whose contents differ. */
function variantNote(c: Change): string {
  return `  (the same edit in ${plural(c.variants!.length, 'different content')}; the diff shown is host ${c.variants![0]!.hosts[0]}'s)`;
}

/** Terminal rendering: one paragraph per change, unified diffs included. */
export function renderText(d: BuildDiff): string {
  const out = [`bindery diff ${d.old.label} → ${d.new.label}`, summaryLine(d)];
  if (d.hostsAdded.length) out.push(`hosts added: ${d.hostsAdded.join(', ')}`);
  if (d.hostsRemoved.length) out.push(`hosts removed: ${d.hostsRemoved.join(', ')}`);
  for (const c of d.changes) {
    out.push('', `${c.path}: ${describeChange(c)} on ${describeHosts(c)}`);
    if (c.variants) out.push(variantNote(c));
    if (c.diff) out.push(c.diff.trimEnd());
  }
  for (const f of d.newFailures) out.push('', `new failure: host ${f.host}, ${f.path}${f.file ? ` (${f.file}${f.line ? `:${f.line}` : ''})` : ''}: ${f.message}`);
  for (const f of d.fixedFailures) out.push('', `fixed: host ${f.host}, ${f.path}`);
  return out.join('\n') + '\n';
}

/** GitHub's comment limit is 65,536 characters; stay well under it. */
const MARKDOWN_BUDGET = 60_000;
const DIFF_LINES = 150;
const TABLE_ROWS = 60;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (s: string) => '`' + s.replace(/`/g, "'") + '`';
/** A fence longer than any backtick run in the text, so file content cannot close it. */
const fence = (text: string) => '`'.repeat(Math.max(3, ...[...text.matchAll(/`+/g)].map((m) => m[0].length + 1)));
const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** A pull-request comment: a summary table, then each change's diff in a collapsed <details>. */
export function renderMarkdown(d: BuildDiff): string {
  const head = [`### bindery diff: ${d.changed ? `${plural(d.hostsChanged.length + d.hostsAdded.length + d.hostsRemoved.length, 'host')} affected` : 'no change'}`, '', summaryLine(d) + '.', ''];
  if (!d.changed) return head.join('\n');
  const table = ['| Path | Change | Hosts |', '|---|---|---|'];
  for (const c of d.changes.slice(0, TABLE_ROWS)) table.push(`| ${code(c.path)} | ${cell(describeChange(c))} | ${cell(describeHosts(c))} |`);
  if (d.changes.length > TABLE_ROWS) table.push(`| … | ${n(d.changes.length - TABLE_ROWS)} more changes | |`);
  if (d.hostsAdded.length) table.push(`| (hosts) | added | ${cell(d.hostsAdded.slice(0, 10).join(', '))}${d.hostsAdded.length > 10 ? ` and ${n(d.hostsAdded.length - 10)} more` : ''} |`);
  if (d.hostsRemoved.length) table.push(`| (hosts) | removed | ${cell(d.hostsRemoved.slice(0, 10).join(', '))}${d.hostsRemoved.length > 10 ? ` and ${n(d.hostsRemoved.length - 10)} more` : ''} |`);
  for (const f of d.newFailures.slice(0, 20)) table.push(`| ${code(f.path)} | **new failure**: ${cell(f.message)} | host ${cell(f.host)} |`);
  const parts = [...head, ...table, ''];
  let size = parts.join('\n').length;
  let omitted = 0;
  for (const c of d.changes) {
    if (!c.diff) continue;
    const lines = c.diff.trimEnd().split('\n');
    const body = lines.length > DIFF_LINES ? [...lines.slice(0, DIFF_LINES), `… ${n(lines.length - DIFF_LINES)} more lines`].join('\n') : lines.join('\n');
    const f = fence(body);
    const note = c.variants ? `${escapeHtml(variantNote(c).trim())}\n\n` : '';
    const block = `<details><summary>${escapeHtml(c.path)}: ${escapeHtml(describeChange(c))} on ${escapeHtml(describeHosts(c))}</summary>\n\n${note}${f}diff\n${body}\n${f}\n\n</details>\n`;
    if (size + block.length > MARKDOWN_BUDGET) {
      omitted++;
      continue;
    }
    parts.push(block);
    size += block.length;
  }
  if (omitted) parts.push(`_${plural(omitted, 'more diff')} left out to fit a comment: run \`bindery diff\` locally or read the JSON artifact._`, '');
  return parts.join('\n');
}
