import type { Message } from '../errors.js';

export type Paint = (style: 'red' | 'yellow' | 'cyan' | 'bold' | 'dim', s: string) => string;

const plain: Paint = (_style, s) => s;

/** Hosts as a person reads them: a few names, then how many in all. */
function hostList(hosts: readonly string[], shown: number): string {
  if (hosts.length === 1) return `host ${hosts[0]}`;
  const named = hosts.slice(0, shown).join(', ');
  return `${hosts.length} hosts (${named}${hosts.length > shown ? ', …' : ''})`;
}

/**
 * A Message for a person: `error[code]: text`, where it is, a code frame when the line's text
 * is known (as liquidjs and rustc show them), then hint and notes.
 *
 *   error[xml-malformed]: malformed XML: unclosed tag: Group
 *     --> Metadata/groups.xml:3:5
 *      |
 *    3 | <Group name="web"
 *      |     ^
 *     = hint: fix the XML syntax at that line
 */
export function renderMessage(m: Message, paint: Paint = plain, shownHosts = 5): string {
  const label = m.severity === 'error' ? paint('red', 'error') : m.severity === 'warning' ? paint('yellow', 'warning') : paint('cyan', 'info');
  const lines = [`${label}[${m.code}]: ${m.text}`];
  const loc = m.location;
  const where: string[] = [];
  if (loc) where.push(loc.file + (loc.line ? `:${loc.line}` + (loc.column ? `:${loc.column}` : '') : ''));
  if (m.path) where.push(`path ${m.path}`);
  if (m.hosts?.length) where.push(hostList(m.hosts, shownHosts));
  if (where.length) lines.push(`  --> ${where.join(', ')}`);
  if (loc?.line && loc.lineText !== undefined) {
    const num = String(loc.line);
    const gutter = ' '.repeat(num.length);
    const text = loc.lineText.replace(/\t/g, ' ');
    lines.push(`  ${gutter} |`, `  ${paint('dim', num)} | ${text}`);
    if (loc.column && loc.column <= text.length + 1) lines.push(`  ${gutter} | ${' '.repeat(loc.column - 1)}${paint('red', '^')}`);
  }
  if (m.hint) lines.push(`  = hint: ${m.hint}`);
  for (const n of m.notes ?? []) lines.push(`  = note: ${n}`);
  return lines.join('\n');
}
